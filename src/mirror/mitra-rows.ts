import type { Queryable } from "../db/pool.js";

/** The mitra columns the availability code reads. */
export interface MitraRow {
  id: string;
  phone: string;
  display_name: string;
  is_online: boolean;
  is_active: boolean;
  last_heartbeat_at: Date | null;
  max_concurrent_sessions: number;
  verified_at: Date | null;
  created_at: Date;
}

export const MITRA_COLUMNS =
  "id, phone, display_name, is_online, is_active, last_heartbeat_at, max_concurrent_sessions, verified_at, created_at";

/** `last_heartbeat_at` of mitras `m` as the mirror stores heartbeats (what Date#toISOString gives). */
export const ISO_HEARTBEAT = `to_char(m.last_heartbeat_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** Mitras `m` with their open chat sessions `c.n` (NULL for none): capacity as contract §3 counts it. */
export const MITRAS_WITH_OPEN_SESSIONS = `mitras m
  LEFT JOIN (SELECT mitra_id, count(*) AS n FROM chat_sessions
             WHERE status IN ('active', 'pending_payment') GROUP BY mitra_id) c ON c.mitra_id = m.id`;

/** Open chat sessions per mitra (capacity = count in active or pending_payment), from the truth. */
export async function capacitiesOf(db: Queryable, mitraIds: readonly string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>(mitraIds.map((id) => [id, 0]));
  if (mitraIds.length === 0) return out;
  const { rows } = await db.query<{ mitra_id: string; n: number }>(
    `SELECT mitra_id, count(*)::int AS n FROM chat_sessions
     WHERE mitra_id = ANY($1::uuid[]) AND status IN ('active', 'pending_payment') GROUP BY mitra_id`,
    [mitraIds],
  );
  for (const r of rows) out.set(r.mitra_id, r.n);
  return out;
}
