import { type ChildProcess, fork } from "node:child_process";
import { statSync } from "node:fs";
import { chmod, mkdir, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../free-port.js";
import type { Logger } from "../log.js";
import { readOrCreateSecret } from "../secret-file.js";

export interface EmbeddedPostgresHandle {
  databaseUrl: string;
  stop(): Promise<void>;
}

const CHILD = fileURLToPath(new URL("./embedded-postgres-child.js", import.meta.url));
const DATABASE = "halo";

/**
 * When started as root, Postgres runs as the `postgres` user, which must be
 * able to walk down to the data folder. A checkout under /root (0700) fails
 * deep inside initdb with "Permission denied"; say so up front instead.
 */
export function untraversableAncestor(dir: string): string | null {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return null;
  let current = resolve(dir);
  for (;;) {
    const parent = dirname(current);
    if (parent === current) return null;
    try {
      const st = statSync(parent);
      if ((st.mode & 0o001) === 0) return parent;
    } catch {
      // a missing ancestor is created by us (0755) later
    }
    current = parent;
  }
}

/**
 * DATA_DIR is ours: as root, let the postgres user pass through it (o+x, not
 * o+r: it still cannot list it; the secrets in it are 0600).
 */
async function makeTraversable(dir: string): Promise<void> {
  if (typeof process.getuid !== "function" || process.getuid() !== 0) return;
  const st = await stat(dir);
  if (st.uid === 0 && (st.mode & 0o001) === 0) await chmod(dir, (st.mode & 0o777) | 0o011);
}

/** Starts (initialising on first run) an embedded Postgres with data under `<dataDir>/pg`. */
export async function startEmbeddedPostgres(dataDir: string, log: Logger): Promise<EmbeddedPostgresHandle> {
  const root = resolve(dataDir);
  const blocked = untraversableAncestor(root);
  if (blocked) {
    throw new Error(
      `embedded Postgres cannot use ${root}: as root it runs as the 'postgres' user, which cannot enter ${blocked} ` +
        `(no execute permission for others). Set DATA_DIR to a folder under a traversable path ` +
        `(e.g. DATA_DIR=/var/lib/halo-gateway), run as a normal user, or set DATABASE_URL.`,
    );
  }
  await mkdir(root, { recursive: true });
  await makeTraversable(root);
  const password = await readOrCreateSecret(join(root, "pg-password"));
  const port = await freePort();

  const child: ChildProcess = fork(CHILD, [], { detached: true, stdio: ["ignore", "ignore", "pipe", "ipc"] });
  child.stderr?.on("data", (d: Buffer) => log.debug({ embeddedPostgres: d.toString().trim() }));

  await new Promise<void>((resolveReady, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`embedded Postgres exited early (code ${code})`));
    child.once("exit", onExit);
    child.on("message", (raw: unknown) => {
      const msg = raw as { type: string; message?: string };
      if (msg.type === "spawned") {
        child.send({ type: "start", databaseDir: join(root, "pg"), port, password, database: DATABASE });
      } else if (msg.type === "log") {
        log.info(msg.message ?? "");
      } else if (msg.type === "ready") {
        child.off("exit", onExit);
        resolveReady();
      } else if (msg.type === "error") {
        reject(new Error(`embedded Postgres failed: ${msg.message}`));
      }
    });
  });
  log.info({ port, dataDir: join(root, "pg") }, "embedded Postgres started");

  return {
    databaseUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`,
    stop: () =>
      new Promise<void>((done) => {
        if (child.exitCode !== null) return done();
        const t = setTimeout(() => child.kill("SIGKILL"), 8000);
        child.once("exit", () => {
          clearTimeout(t);
          done();
        });
        child.send({ type: "stop" });
      }),
  };
}
