import { type Pool, withTransaction } from "../db/pool.js";
import type { MitraMirror } from "./mitra-mirror.js";
import { capacitiesOf } from "./mitra-rows.js";

const CAPACITY_LOCK_NAMESPACE = 7301;

/**
 * Recomputes mitras' capacity from Postgres (sessions in active or
 * pending_payment) and mirrors it. Called after every chat-session
 * transition: derived from the truth each time, never INCR/DECR bookkeeping.
 * Recomputes of one mitra are serialised by an advisory lock held across the
 * count and the Valkey write, so an older count can never land after a newer
 * one, whichever process runs them.
 */
export async function recomputeCapacity(
  pool: Pool,
  mirror: MitraMirror,
  mitraIds: readonly string[],
): Promise<void> {
  const ids = [...new Set(mitraIds)].sort();
  if (ids.length === 0) return;
  await withTransaction(pool, async (tx) => {
    for (const id of ids)
      await tx.query("SELECT pg_advisory_xact_lock($1, hashtext($2))", [CAPACITY_LOCK_NAMESPACE, id]);
    const byId = await capacitiesOf(tx, ids);
    await mirror.setCapacities([...byId].map(([mitraId, capacity]) => ({ mitraId, capacity })));
  });
}
