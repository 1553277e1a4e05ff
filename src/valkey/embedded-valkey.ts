import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../free-port.js";
import type { Logger } from "../log.js";

/** Finds valkey-server (preferred) or redis-server on PATH. */
export function findValkeyBinary(pathEnv: string | undefined): string | null {
  for (const name of ["valkey-server", "redis-server"]) {
    for (const dir of (pathEnv ?? "").split(delimiter)) {
      if (!dir) continue;
      const candidate = join(dir, name);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return null;
}

export interface EmbeddedValkey {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts a throwaway Valkey on a free loopback port. Its state is derivable
 * from Postgres (the reseed rebuilds it), so it keeps nothing on disk.
 */
export async function startEmbeddedValkey(
  binary: string,
  log?: Logger,
  fixedPort?: number,
): Promise<EmbeddedValkey> {
  const port = fixedPort ?? (await freePort());
  // redis-server cannot watch its parent: a small sh watchdog runs it and stops it when this
  // process is gone, even after a SIGKILL that skipped our shutdown (else it lingers holding the port).
  const watchdog =
    '"$0" "$@" & R=$!; trap \'kill $R 2>/dev/null; wait $R; exit 0\' TERM INT; ' +
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 $R 2>/dev/null; do sleep 1 & wait $!; done; ` +
    "kill $R 2>/dev/null; wait $R";
  const child: ChildProcess = spawn(
    "/bin/sh",
    [
      "-c",
      watchdog,
      binary,
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "yes",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  child.stderr?.on("data", (d: Buffer) =>
    log?.warn({ valkeyServer: d.toString().trim() }, "embedded valkey stderr"),
  );
  const url = `redis://127.0.0.1:${port}`;
  await waitForPing(url, child, 10_000);
  log?.info({ port, binary }, "embedded valkey started");
  return {
    url,
    port,
    stop: () => stopChild(child),
  };
}

async function waitForPing(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`valkey server exited with code ${child.exitCode}`);
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on("error", () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch {
      probe.disconnect();
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill("SIGKILL");
  throw new Error("valkey server did not answer within 10 s");
}

export function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
