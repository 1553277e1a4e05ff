import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { loadConfig } from "../../src/config.js";
import { createPool, type Pool } from "../../src/db/pool.js";
import { type Gateway, startGateway } from "../../src/gateway.js";
import {
  createValkeyClient,
  type ValkeyClient,
  ValkeyHealth,
  type ValkeyTarget,
} from "../../src/valkey/client.js";
import { TEST_VALKEY_ENV, TEST_VALKEY_URL } from "./env.js";

export const silentLog = pino({ level: "silent" });

export const TEST_JWT_SECRET = "test-secret-test-secret-test-secret-0123";

/** A clock a test can move: `clock.now()` for the gateway, `clock.advance(ms)` in the test. */
export class TestClock {
  private offsetMs = 0;
  now = (): Date => new Date(Date.now() + this.offsetMs);
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export interface TestGateway {
  gateway: Gateway;
  pool: Pool;
  valkey: ValkeyClient | null;
  health: ValkeyHealth | null;
  publicUrl: string;
  internalUrl: string;
  close(): Promise<void>;
}

/** A gateway in this process on free ports, with adapters of its own. */
export async function startTestGateway(opts: {
  databaseUrl: string;
  valkeyUrl?: string | null;
  /** Key and channel prefix (default: a fresh one); gateways of one test that must see each other share it. */
  prefix?: string;
  env?: Record<string, string>;
  /** A clock the test moves (expiry, cooldowns, lockouts) instead of sleeping. */
  now?: () => Date;
  /** Postgres clients of its pool (default 5): 1 shows a use case that needs two at once. */
  poolMax?: number;
}): Promise<TestGateway> {
  // The suite's shared Valkey is a cluster in `npm run test:cluster`; a test's own redis-server never is.
  const shared = opts.valkeyUrl === TEST_VALKEY_URL;
  const valkeyEnv = shared ? TEST_VALKEY_ENV : opts.valkeyUrl ? { VALKEY_URL: opts.valkeyUrl } : {};
  const config = loadConfig({
    NODE_ENV: "test",
    PUBLIC_HOST: "127.0.0.1",
    PUBLIC_PORT: "0",
    INTERNAL_PORT: "0",
    DATABASE_URL: opts.databaseUrl,
    ...valkeyEnv,
    VALKEY_KEY_PREFIX: opts.prefix ?? `t${Math.random().toString(36).slice(2, 10)}:`,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ...opts.env,
  });
  const pool = createPool(opts.databaseUrl, { max: opts.poolMax ?? 5 });
  const target: ValkeyTarget | null =
    config.valkeyMode.kind === "standalone" || config.valkeyMode.kind === "cluster"
      ? config.valkeyMode
      : null;
  const valkey = target ? createValkeyClient(target, "test") : null;
  const health = valkey ? new ValkeyHealth(valkey, silentLog, 250) : null;
  health?.start();
  if (health) await health.waitUntilUp(3000);
  const gateway = await startGateway({
    config,
    log: silentLog,
    pool,
    valkey,
    valkeyHealth: health,
    jwtSecret: config.AUTH_JWT_SECRET as string,
    ...(opts.now ? { now: opts.now } : {}),
  });
  return {
    gateway,
    pool,
    valkey,
    health,
    publicUrl: `http://127.0.0.1:${gateway.publicPort}`,
    internalUrl: `http://127.0.0.1:${gateway.internalPort}`,
    close: async () => {
      await gateway.close();
      health?.stop();
      valkey?.disconnect();
      await pool.end();
    },
  };
}

/** Children still running when the test process exits (a failed assertion skipped their stop) are killed. */
const spawned = new Set<ChildProcess>();
process.on("exit", () => killSpawned());

/** Kills every gateway this test file spawned that is still running (a failed assertion skipped its stop). */
export function killSpawned(): void {
  for (const child of spawned)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  spawned.clear();
}

export const MAIN_JS = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

export interface SpawnedGateway {
  child: ChildProcess;
  publicUrl: string;
  internalUrl: string;
  output(): string;
  /** Sends a signal and resolves with the exit code and how long the exit took. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; ms: number }>;
}

/** Runs the built service (dist/main.js) as a child process and waits for its "listening" line. */
export async function spawnGateway(
  env: Record<string, string>,
  timeoutMs = 60_000,
  /** Run as another user (the test runs as root). */
  as?: { uid: number; gid: number },
): Promise<SpawnedGateway> {
  const fullEnv = {
    NODE_ENV: "test",
    PUBLIC_HOST: "127.0.0.1",
    PUBLIC_PORT: "0",
    INTERNAL_PORT: "0",
    ...env,
  };
  const child = spawn(process.execPath, [MAIN_JS], {
    env: fullEnv,
    stdio: ["ignore", "pipe", "pipe"],
    ...as,
  });
  spawned.add(child);
  child.once("exit", () => spawned.delete(child));
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const listening = await new Promise<{ publicPort: number; internalPort: number }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`gateway did not start in time:\n${out}`)), timeoutMs);
    const check = () => {
      for (const line of out.split("\n")) {
        if (!line.includes('"listening"')) continue;
        clearTimeout(t);
        child.stdout?.off("data", check);
        resolve(JSON.parse(line));
        return;
      }
    };
    child.stdout?.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(t);
      reject(new Error(`gateway exited with ${code}:\n${out}`));
    });
  });
  child.removeAllListeners("exit");
  child.once("exit", () => spawned.delete(child));
  return {
    child,
    publicUrl: `http://127.0.0.1:${listening.publicPort}`,
    internalUrl: `http://127.0.0.1:${listening.internalPort}`,
    output: () => out,
    stop: (signal = "SIGTERM") =>
      new Promise((resolve) => {
        const started = Date.now();
        if (child.exitCode !== null) return resolve({ code: child.exitCode, ms: 0 });
        child.once("exit", (code) => resolve({ code, ms: Date.now() - started }));
        child.kill(signal);
      }),
  };
}

/** Polls fn until it returns true; resolves with the elapsed ms, rejects after timeoutMs. */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 50,
): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await fn()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
