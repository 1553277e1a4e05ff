import { fileURLToPath } from "node:url";
import { runner } from "node-pg-migrate";
import pg from "pg";
import type { Logger } from "../log.js";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations", import.meta.url));

/** Our own advisory lock id: node-pg-migrate's lock is try-once and fails a second process. */
const MIGRATE_LOCK_ID = 4_711_0001;

/**
 * Applies pending migrations. Safe when several processes start at once: each
 * waits on a blocking advisory lock, and the ones that get it later find
 * nothing left to run.
 */
export async function migrate(databaseUrl: string, log?: Logger): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "halo-gateway-migrate" });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATE_LOCK_ID]);
    const ran = await runner({
      dbClient: client,
      dir: MIGRATIONS_DIR,
      migrationsTable: "pgmigrations",
      direction: "up",
      noLock: true,
      checkOrder: true,
      singleTransaction: true,
      log: () => {},
      logger: {
        debug: () => {},
        info: () => {},
        warn: (m: string) => log?.warn(m),
        error: (m: string) => log?.error(m),
      },
    });
    const names = ran.map((m) => m.name);
    if (names.length > 0) log?.info({ migrations: names }, "migrations applied");
    return names;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATE_LOCK_ID]).catch(() => {});
    await client.end().catch(() => {});
  }
}
