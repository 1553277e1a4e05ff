import type { Clock } from "./clock.js";
import type { Config } from "./config.js";
import type { Pool } from "./db/pool.js";
import type { Logger } from "./log.js";
import type { ValkeyClient, ValkeyHealth } from "./valkey/client.js";

/** The adapters a gateway runs on; created by main.ts (or a test) and passed in. */
export interface GatewayDeps {
  config: Config;
  log: Logger;
  pool: Pool;
  /** null in Postgres-only mode. */
  valkey: ValkeyClient | null;
  valkeyHealth: ValkeyHealth | null;
  jwtSecret: string;
  now?: Clock;
}
