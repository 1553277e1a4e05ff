import type { Pool, PoolClient } from "../db/pool.js";

/** Advisory-lock ids of the sweeps (two-key form: namespace, sweep). */
const SWEEP_LOCK_NAMESPACE = 7201;
export const SWEEP_IDS = {
  autoOffline: 1,
  heartbeatMirror: 2,
  reseed: 3,
  retention: 4,
  overdueSessions: 5,
  pairing: 6,
} as const;

/**
 * Runs `fn` only if no other process is running the same sweep: the lock is
 * `pg_try_advisory_xact_lock` in the sweep's own transaction, so it works with
 * Valkey up, down or absent, and is released by COMMIT/ROLLBACK even if the
 * process dies. Returns "skipped" when another process holds it.
 */
export async function withSweepLock<T>(
  pool: Pool,
  sweepId: number,
  fn: (tx: PoolClient) => Promise<T>,
): Promise<{ ran: true; result: T } | { ran: false }> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_xact_lock($1, $2) AS locked",
      [SWEEP_LOCK_NAMESPACE, sweepId],
    );
    if (!rows[0]?.locked) {
      await client.query("ROLLBACK");
      return { ran: false };
    }
    const result = await fn(client);
    await client.query("COMMIT");
    return { ran: true, result };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
