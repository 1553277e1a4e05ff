/** Where the machine's real services are (CI and developers: Postgres 5432 trust, Redis 6379). */
export const TEST_PG_ADMIN_URL =
  process.env.TEST_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const TEST_VALKEY_URL = process.env.TEST_VALKEY_URL ?? "redis://127.0.0.1:6379";

/**
 * `npm run test:cluster` sets HALO_TEST_VALKEY_CLUSTER to a cluster's
 * `host:port,…` (scripts/valkey-cluster.sh): the shared Valkey of the suite
 * is then that cluster, and every gateway given TEST_VALKEY_URL runs in
 * cluster mode (with its own key prefix, as on a single Valkey).
 */
export const TEST_VALKEY_CLUSTER_NODES = process.env.HALO_TEST_VALKEY_CLUSTER || undefined;

/** The environment that points a spawned gateway at the suite's shared Valkey (or cluster). */
export const TEST_VALKEY_ENV: Record<string, string> = TEST_VALKEY_CLUSTER_NODES
  ? { VALKEY_CLUSTER_NODES: TEST_VALKEY_CLUSTER_NODES }
  : { VALKEY_URL: TEST_VALKEY_URL };

export function dbUrl(name: string): string {
  const u = new URL(TEST_PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}
