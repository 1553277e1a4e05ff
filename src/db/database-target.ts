import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import { startEmbeddedPostgres } from "./embedded-postgres.js";

export interface DatabaseTarget {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** DATABASE_URL when set; otherwise an embedded, real Postgres under DATA_DIR (contract §0). */
export async function resolveDatabase(config: Config, log: Logger): Promise<DatabaseTarget> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, stop: async () => {} };
  log.info("DATABASE_URL is unset: starting an embedded Postgres");
  const pg = await startEmbeddedPostgres(config.DATA_DIR, log);
  return { url: pg.databaseUrl, embedded: true, stop: pg.stop };
}
