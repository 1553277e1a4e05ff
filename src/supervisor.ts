/**
 * WORKERS=N (N > 1): N gateway processes on one machine, sharing the public
 * and internal ports, under this small supervisor.
 *
 * Why child_process.fork and not node:cluster: cluster's value is sharing a
 * listening handle owned by the primary, and that only applies to net.Server;
 * uWebSockets.js opens its own listen sockets, and uSockets sets SO_REUSEPORT
 * on them on Linux unless told LIBUS_LISTEN_EXCLUSIVE_PORT, so every worker
 * binds the same port itself and the kernel spreads new connections across
 * them (bench/workers-bench.mjs prints the spread). What remains is starting,
 * watching and stopping processes, which fork does in the open: an explicit
 * script, argv and environment, and an IPC channel whose closing tells a
 * worker that its supervisor died.
 *
 * The supervisor owns what must exist once per machine: the embedded Postgres
 * and Valkey (when none is configured), the migration, the JWT secret file
 * and the two ports (0 is resolved here, or every worker would pick its own).
 */
import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import type { Config } from "./config.js";
import { resolveDatabase } from "./db/database-target.js";
import { migrate } from "./db/migrate.js";
import { freePort } from "./free-port.js";
import type { Logger } from "./log.js";
import { readOrCreateSecret } from "./secret-file.js";
import { type RestartPolicy, restartPolicy } from "./supervisor-restarts.js";
import { stopChild } from "./valkey/embedded-valkey.js";
import { resolveValkey } from "./valkey/valkey-target.js";

/** A worker has its own 9 s shutdown deadline; after this one it is killed. */
const WORKER_STOP_MS = 9500;

/** The message a worker sends (IPC) once both its listeners are open. */
export interface WorkerListening {
  type: "listening";
  publicPort: number;
  internalPort: number;
}

interface Worker {
  index: number;
  child: ChildProcess;
  listening: boolean;
  startedAt: number;
}

export interface SupervisorOptions {
  config: Config;
  log: Logger;
  /** The service's entry script (dist/main.js); a worker runs it as `main.js worker <index>`. */
  mainJs: string;
  env: NodeJS.ProcessEnv;
}

/** Runs the supervisor until a signal (exit 0 when every worker exited 0) or a crash loop (exit 1). */
export async function runSupervisor({ config, log, mainJs, env }: SupervisorOptions): Promise<void> {
  const stops: (() => Promise<void>)[] = [];
  const workers = new Map<number, Worker>();
  const policy: RestartPolicy = restartPolicy();
  let stopping = false;
  /** Every worker of the first round is listening: from then on a death means a restart. */
  let up = false;
  let cleanExit = true;

  const stopAdapters = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse())
      await stop().catch((err) => log.error({ err }, "error while stopping"));
  };

  const shutdown = async (reason: string, code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ reason, workers: workers.size }, "supervisor stopping its workers");
    await Promise.all([...workers.values()].map((w) => stopChild(w.child, WORKER_STOP_MS)));
    // Postgres and Valkey after the last worker that writes to them.
    await stopAdapters();
    const exitCode = code === 0 && !cleanExit ? 1 : code;
    log.info({ exitCode }, "stopped");
    process.exit(exitCode);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
  process.on("SIGINT", () => void shutdown("SIGINT", 0));

  try {
    const db = await resolveDatabase(config, log);
    stops.push(db.stop);
    // Once here, so a bad migration stops start-up once; the workers' own runs find nothing to do.
    await migrate(db.url, log);
    const valkey = await resolveValkey(config, log, env.PATH);
    stops.push(valkey.stop);
    if (!valkey.target) {
      throw new Error(
        `WORKERS=${config.WORKERS} needs Valkey (fan-out and the heartbeat mirror are shared through it): ` +
          "set VALKEY_URL or VALKEY_CLUSTER_NODES, put valkey-server or redis-server on PATH, or set WORKERS=1",
      );
    }
    // Written once before any worker reads it: N workers creating the file at once would race.
    if (!config.AUTH_JWT_SECRET) await readOrCreateSecret(join(config.DATA_DIR, "jwt-secret"));
    const publicPort = config.PUBLIC_PORT || (await freePort());
    const internalPort = config.INTERNAL_PORT || (await freePort());

    const workerEnv: NodeJS.ProcessEnv = {
      ...env,
      WORKERS: "1",
      DATABASE_URL: db.url,
      PUBLIC_PORT: String(publicPort),
      INTERNAL_PORT: String(internalPort),
      ...(valkey.target.kind === "standalone" && config.valkeyMode.kind === "embedded"
        ? { VALKEY_URL: valkey.target.url }
        : {}),
    };

    // A supervisor run under --inspect keeps the inspector to itself: N workers on its port would collide.
    const workerExecArgv = process.execArgv.filter((a) => !a.startsWith("--inspect"));

    const start = (index: number): Promise<void> => {
      const child = fork(mainJs, ["worker", String(index)], { env: workerEnv, execArgv: workerExecArgv });
      const worker: Worker = { index, child, listening: false, startedAt: Date.now() };
      workers.set(index, worker);
      log.info({ worker: index, pid: child.pid }, "worker started");
      return new Promise<void>((resolveListening, reject) => {
        child.on("message", (raw: unknown) => {
          if ((raw as WorkerListening).type !== "listening" || worker.listening) return;
          worker.listening = true;
          resolveListening();
        });
        child.once("exit", (code, signal) => {
          workers.delete(index);
          if (stopping) {
            if (code !== 0) cleanExit = false;
            return;
          }
          if (!worker.listening) {
            reject(new Error(`worker ${index} exited (${signal ?? code}) before it was listening`));
          }
          // At start-up a worker that cannot come up is a failed start (reported once), not a restart.
          if (!up) return;
          const decision = policy.onExit(Date.now(), Date.now() - worker.startedAt);
          if (decision.giveUp) {
            log.fatal(
              { worker: index, code, signal, exits: decision.recentExits },
              "workers keep dying: giving up",
            );
            void shutdown("crash loop", 1);
            return;
          }
          log.error(
            { worker: index, pid: child.pid, code, signal, restartInMs: decision.delayMs },
            "worker died: restarting it",
          );
          setTimeout(() => {
            if (!stopping) start(index).catch((err) => log.error({ err: err.message }, "restart failed"));
          }, decision.delayMs);
        });
      });
    };

    await Promise.all(Array.from({ length: config.WORKERS }, (_, i) => start(i + 1)));
    if (stopping) return;
    up = true;
    log.info(
      {
        publicUrl: `http://${config.PUBLIC_HOST}:${publicPort}`,
        internalUrl: `http://${config.INTERNAL_HOST}:${internalPort}`,
        publicPort,
        internalPort,
        workers: config.WORKERS,
        pids: [...workers.values()].map((w) => w.child.pid),
      },
      "listening",
    );
  } catch (err) {
    if (stopping) return;
    log.fatal({ err: err instanceof Error ? err.message : err }, "start-up failed");
    await shutdown("start-up failed", 1);
  }
}
