import type { Config } from "../config.js";
import type { Logger } from "../log.js";
import type { ValkeyTarget } from "./client.js";
import { findValkeyBinary, startEmbeddedValkey } from "./embedded-valkey.js";

export interface ResolvedValkey {
  /** null: Postgres-only mode. */
  target: ValkeyTarget | null;
  stop(): Promise<void>;
}

/**
 * VALKEY_URL or VALKEY_CLUSTER_NODES when set; otherwise a valkey-server or
 * redis-server from PATH on a free loopback port; none → Postgres-only mode.
 */
export async function resolveValkey(
  config: Config,
  log: Logger,
  pathEnv: string | undefined,
): Promise<ResolvedValkey> {
  const mode = config.valkeyMode;
  if (mode.kind === "standalone") return { target: mode, stop: async () => {} };
  if (mode.kind === "cluster") return { target: mode, stop: async () => {} };

  const binary = findValkeyBinary(pathEnv);
  if (!binary) {
    log.warn(
      "VALKEY_URL is unset and no valkey-server or redis-server is on PATH: running in Postgres-only mode. " +
        "This mode is meant for ONE process: heartbeats go to Postgres and fan-out stays inside this process.",
    );
    return { target: null, stop: async () => {} };
  }
  const embedded = await startEmbeddedValkey(binary, log);
  return { target: { kind: "standalone", url: embedded.url }, stop: embedded.stop };
}
