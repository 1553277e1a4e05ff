import { CREATED_AT_US, decodeCursor, keysetPage } from "../db/keyset-cursor.js";
import type { Queryable } from "../db/pool.js";
import type { ProviderSession, VerificationStatus } from "./provider.js";

export interface VerificationRow {
  id: string;
  mitra_id: string;
  provider: string;
  client_id: string;
  scan_ref: string | null;
  auth_token: string | null;
  redirect_url: string | null;
  status: VerificationStatus;
  status_reason: string | null;
  recreate_count: number;
  expires_at: Date | null;
  polled_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** At most this many re-mints per verification (contract §6). */
export const MAX_RECREATES = 10;
export const CAP_REASON = "RECREATE_CAP_REACHED";

export async function latestOf(db: Queryable, mitraId: string): Promise<VerificationRow | null> {
  const { rows } = await db.query<VerificationRow>(
    "SELECT * FROM verifications WHERE mitra_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    [mitraId],
  );
  return rows[0] ?? null;
}

export async function byScanRef(db: Queryable, scanRef: string): Promise<VerificationRow | null> {
  const { rows } = await db.query<VerificationRow>("SELECT * FROM verifications WHERE scan_ref = $1", [
    scanRef,
  ]);
  return rows[0] ?? null;
}

export async function byId(db: Queryable, id: string): Promise<VerificationRow | null> {
  const { rows } = await db.query<VerificationRow>("SELECT * FROM verifications WHERE id = $1", [id]);
  return rows[0] ?? null;
}

export async function insertVerification(
  db: Queryable,
  p: { mitraId: string; provider: string; clientId: string; session: ProviderSession; now: Date },
): Promise<VerificationRow> {
  const { rows } = await db.query<VerificationRow>(
    `INSERT INTO verifications (mitra_id, provider, client_id, scan_ref, auth_token, redirect_url, status,
                                expires_at, created_at, updated_at, polled_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'in_progress', $7, $8, $8, $8) RETURNING *`,
    [
      p.mitraId,
      p.provider,
      p.clientId,
      p.session.scanRef,
      p.session.authToken,
      p.session.redirectUrl,
      p.session.expiresAt,
      p.now,
    ],
  );
  return rows[0] as VerificationRow;
}

/**
 * The re-mint's write: conditional on the scanRef it replaces (and on the row
 * still being re-mintable). Null when a peer already replaced it — the caller
 * then answers the peer's stored state, never its own orphaned token.
 */
export async function replaceSession(
  db: Queryable,
  id: string,
  oldScanRef: string | null,
  session: ProviderSession,
  now: Date,
): Promise<VerificationRow | null> {
  const { rows } = await db.query<VerificationRow>(
    `UPDATE verifications
     SET scan_ref = $3, auth_token = $4, redirect_url = $5, expires_at = $6, status = 'in_progress',
         status_reason = NULL, recreate_count = recreate_count + 1, updated_at = $7, polled_at = $7
     WHERE id = $1 AND scan_ref IS NOT DISTINCT FROM $2 AND status IN ('in_progress', 'expired')
       AND recreate_count < $8
     RETURNING *`,
    [
      id,
      oldScanRef,
      session.scanRef,
      session.authToken,
      session.redirectUrl,
      session.expiresAt,
      now,
      MAX_RECREATES,
    ],
  );
  return rows[0] ?? null;
}

/**
 * Records what the provider said (webhook or poll) for one provider session.
 * approved, denied and suspected are terminal: a row in one of them never
 * changes again, so a replay or a late webhook changes nothing. Approval sets
 * the mitra's verified_at in the same statement.
 */
export async function recordVerdict(
  db: Queryable,
  scanRef: string,
  status: VerificationStatus,
  reason: string | null,
  now: Date,
): Promise<VerificationRow | null> {
  const { rows } = await db.query<VerificationRow>(
    `WITH changed AS (
       UPDATE verifications SET status = $2, status_reason = $3, updated_at = $4
       WHERE scan_ref = $1 AND status IN ('in_progress', 'expired') AND status IS DISTINCT FROM $2
       RETURNING *
     ), verified AS (
       UPDATE mitras SET verified_at = COALESCE(verified_at, $4), updated_at = $4
       WHERE $2 = 'approved' AND id IN (SELECT mitra_id FROM changed)
     )
     SELECT * FROM changed`,
    [scanRef, status, reason, now],
  );
  return rows[0] ?? null;
}

/** A capped row: expired for good, and never polled again. */
export async function markCapped(db: Queryable, id: string, now: Date): Promise<VerificationRow | null> {
  const { rows } = await db.query<VerificationRow>(
    `UPDATE verifications SET status = 'expired', status_reason = $2, auth_token = NULL, updated_at = $3
     WHERE id = $1 AND status IN ('in_progress', 'expired') RETURNING *`,
    [id, CAP_REASON, now],
  );
  return rows[0] ?? null;
}

/** Claims this read's provider poll: one reader per interval polls, the others answer from the row. */
export async function claimPoll(db: Queryable, id: string, now: Date, intervalMs: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE verifications SET polled_at = $2
     WHERE id = $1 AND status = 'in_progress' AND (polled_at IS NULL OR polled_at <= $2::timestamptz - $3 * interval '1 millisecond')`,
    [id, now, intervalMs],
  );
  return (rowCount ?? 0) > 0;
}

export interface VerificationItem {
  id: string;
  mitraId: string;
  provider: string;
  status: VerificationStatus;
  reason: string | null;
  recreateCount: number;
  expiresAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** Operators' list (contract §6), newest first, keyset-paged. */
export async function listVerifications(
  db: Queryable,
  q: { status?: VerificationStatus | undefined; cursor?: string | undefined; limit: number },
): Promise<{ items: VerificationItem[]; nextCursor: string | null }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.status) {
    params.push(q.status);
    where.push(`status = $${params.length}`);
  }
  if (q.cursor) {
    const after = decodeCursor(q.cursor);
    params.push(after.createdAt, after.id);
    where.push(`(created_at, id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
  }
  params.push(q.limit + 1);
  const { rows } = await db.query<VerificationRow & { created_at_us: string }>(
    `SELECT *, ${CREATED_AT_US} FROM verifications ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const { page, nextCursor } = keysetPage(rows, q.limit);
  return {
    items: page.map((r) => ({
      id: r.id,
      mitraId: r.mitra_id,
      provider: r.provider,
      status: r.status,
      reason: r.status_reason,
      recreateCount: r.recreate_count,
      expiresAt: r.expires_at?.toISOString() ?? null,
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
    })),
    nextCursor,
  };
}
