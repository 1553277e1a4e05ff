/**
 * Composition root: read config, provision adapters (embedded Postgres and
 * Valkey when none are configured), migrate, start the gateway, and own the
 * shutdown order (contract §8). With WORKERS > 1 this process is the
 * supervisor (src/supervisor.ts) and each worker runs `main.js worker <n>`.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { resolveDatabase } from "./db/database-target.js";
import { migrate } from "./db/migrate.js";
import { createPool } from "./db/pool.js";
import { type Gateway, startGateway } from "./gateway.js";
import { createLogger, type Logger } from "./log.js";
import { readOrCreateSecret } from "./secret-file.js";
import { runSupervisor, type WorkerListening } from "./supervisor.js";
import { createValkeyClient, ValkeyHealth } from "./valkey/client.js";
import { resolveValkey } from "./valkey/valkey-target.js";

/** Hard limit for a graceful stop; the contract allows 10 s. */
const SHUTDOWN_DEADLINE_MS = 9000;
/** How long start-up waits for Valkey before opening the listeners degraded. */
const VALKEY_STARTUP_WAIT_MS = 3000;

function readConfig(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.lines) process.stderr.write(`${line}\n`);
      process.exit(1);
    }
    throw err;
  }
}

/** Adapter stops, in creation order; run in reverse on shutdown or failed start-up. */
const stops: (() => Promise<void>)[] = [];

async function runStops(log: Logger): Promise<void> {
  for (const stop of stops.splice(0).reverse())
    await stop().catch((err) => log.error({ err }, "error while stopping"));
}

async function run(config: Config, log: Logger): Promise<void> {
  let gateway: Gateway | undefined;
  let stopping = false;

  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    setTimeout(() => {
      log.warn("shutdown deadline reached; exiting");
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS).unref();
    try {
      await gateway?.close();
    } catch (err) {
      log.error({ err }, "error while closing the gateway");
    }
    // Adapters last, in reverse order of creation (Postgres stops after everything that writes to it).
    await runStops(log);
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  // A worker whose supervisor died (even by SIGKILL) sees its IPC channel close: it stops, not lingers.
  if (process.send) process.on("disconnect", () => void shutdown("supervisor gone"));

  const db = await resolveDatabase(config, log);
  stops.push(db.stop);
  await migrate(db.url, log);
  const pool = createPool(db.url);
  stops.push(() => pool.end());

  const valkeyTarget = await resolveValkey(config, log, process.env.PATH);
  stops.push(valkeyTarget.stop);
  const valkey = valkeyTarget.target ? createValkeyClient(valkeyTarget.target, "halo-gateway") : null;
  const valkeyHealth = valkey ? new ValkeyHealth(valkey, log) : null;
  if (valkey && valkeyHealth) {
    stops.push(async () => {
      valkeyHealth.stop();
      valkey.disconnect();
    });
    valkeyHealth.start();
    if (!(await valkeyHealth.waitUntilUp(VALKEY_STARTUP_WAIT_MS))) {
      log.warn("Valkey is not reachable yet: starting degraded (reads fall back to Postgres)");
    }
  }

  const jwtSecret = config.AUTH_JWT_SECRET ?? (await readOrCreateSecret(join(config.DATA_DIR, "jwt-secret")));
  if (stopping) return;
  gateway = await startGateway({ config, log, pool, valkey, valkeyHealth, jwtSecret });
  log.info(
    {
      publicUrl: `http://${config.PUBLIC_HOST}:${gateway.publicPort}`,
      internalUrl: `http://${config.INTERNAL_HOST}:${gateway.internalPort}`,
      publicPort: gateway.publicPort,
      internalPort: gateway.internalPort,
      postgres: db.embedded ? "embedded" : "external",
      valkey: valkeyTarget.target ? config.valkeyMode.kind : "none (Postgres-only mode)",
    },
    "listening",
  );
  const listening: WorkerListening = {
    type: "listening",
    publicPort: gateway.publicPort,
    internalPort: gateway.internalPort,
  };
  if (process.connected) process.send?.(listening);
}

const config = readConfig();
const workerIndex = process.argv[2] === "worker" ? Number(process.argv[3]) : null;
const log = workerIndex === null ? createLogger(config) : createLogger(config).child({ worker: workerIndex });
// Bad input must never crash the process: log what escaped and keep serving.
// A log reader that went away must not take the service down (EPIPE on stdout).
process.stdout.on("error", () => {});
process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));
process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception"));

if (process.argv[2] === "migrate") {
  if (!config.DATABASE_URL) {
    log.error("npm run migrate needs DATABASE_URL (npm start migrates the embedded database itself)");
    process.exit(1);
  }
  const ran = await migrate(config.DATABASE_URL, log);
  log.info({ count: ran.length }, ran.length > 0 ? "migrated" : "nothing to migrate");
  process.exit(0);
} else if (workerIndex === null && config.WORKERS > 1) {
  await runSupervisor({ config, log, mainJs: fileURLToPath(import.meta.url), env: process.env });
} else {
  run(config, log).catch(async (err) => {
    log.fatal({ err: err instanceof Error ? err.message : err }, "start-up failed");
    await runStops(log);
    process.exit(1);
  });
}
