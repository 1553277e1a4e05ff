import type { Queryable } from "../db/pool.js";

/** A pairing request as Postgres holds it. `cancelled` reads as `failed` with reason CANCELLED. */
export interface RequestRow {
  id: string;
  customer_id: string;
  status: "searching" | "matched" | "failed" | "cancelled";
  fail_reason: string | null;
  matched_mitra_id: string | null;
  session_id: string | null;
  batch: number;
  next_batch_at: Date | null;
  deadline_at: Date;
  created_at: Date;
}

/** What GET /api/client/pairing/:requestId answers (contract §5). */
export interface PairingView {
  requestId: string;
  status: "pending" | "matched" | "failed";
  sessionId: string | null;
  reason: string | null;
}

export const pairingView = (r: RequestRow): PairingView => ({
  requestId: r.id,
  status: r.status === "searching" ? "pending" : r.status === "matched" ? "matched" : "failed",
  sessionId: r.session_id,
  reason: r.status === "cancelled" ? "CANCELLED" : r.fail_reason,
});

export async function loadRequest(db: Queryable, id: string, forUpdate = false): Promise<RequestRow | null> {
  const { rows } = await db.query<RequestRow>(
    `SELECT * FROM pairing_requests WHERE id = $1${forUpdate ? " FOR UPDATE" : ""}`,
    [id],
  );
  return rows[0] ?? null;
}

export async function hasOpenSession(db: Queryable, customerId: string): Promise<boolean> {
  const { rows } = await db.query(
    "SELECT 1 FROM chat_sessions WHERE customer_id = $1 AND status IN ('active', 'pending_payment') LIMIT 1",
    [customerId],
  );
  return rows.length > 0;
}

/** Inserts a searching request; the partial unique index allows one per customer (23505 otherwise). */
export async function insertRequest(
  db: Queryable,
  p: { customerId: string; now: Date; deadlineAt: Date },
): Promise<RequestRow> {
  const { rows } = await db.query<RequestRow>(
    `INSERT INTO pairing_requests (customer_id, created_at, deadline_at, next_batch_at)
     VALUES ($1, $2, $3, $2) RETURNING *`,
    [p.customerId, p.now, p.deadlineAt],
  );
  return rows[0] as RequestRow;
}

/** Every mitra ever offered this request: none of them is offered it again. */
export async function offeredMitras(db: Queryable, requestId: string): Promise<string[]> {
  const { rows } = await db.query<{ mitra_id: string }>(
    "SELECT mitra_id FROM pairing_offers WHERE request_id = $1",
    [requestId],
  );
  return rows.map((r) => r.mitra_id);
}

/**
 * Moves a request to its next batch, only if it is still searching at the batch
 * the caller saw: of two processes (or a timer and the sweep) one advances it.
 */
export async function advanceBatch(
  db: Queryable,
  id: string,
  seenBatch: number,
  nextBatchAt: Date,
): Promise<RequestRow | null> {
  const { rows } = await db.query<RequestRow>(
    `UPDATE pairing_requests SET batch = batch + 1, next_batch_at = $3
     WHERE id = $1 AND status = 'searching' AND batch = $2 RETURNING *`,
    [id, seenBatch, nextBatchAt],
  );
  return rows[0] ?? null;
}

export async function insertOffers(
  db: Queryable,
  requestId: string,
  mitraIds: readonly string[],
  offeredAt: Date,
  expiresAt: Date,
): Promise<void> {
  if (mitraIds.length === 0) return;
  await db.query(
    `INSERT INTO pairing_offers (request_id, mitra_id, offered_at, expires_at)
     SELECT $1, unnest($2::uuid[]), $3, $4 ON CONFLICT DO NOTHING`,
    [requestId, mitraIds, offeredAt, expiresAt],
  );
}

/** Closes every open offer of a request with `outcome`; returns the mitras whose offer it closed. */
export async function closeOpenOffers(
  db: Queryable,
  requestId: string,
  outcome: "taken" | "lapsed",
): Promise<string[]> {
  const { rows } = await db.query<{ mitra_id: string }>(
    `UPDATE pairing_offers SET outcome = $2 WHERE request_id = $1 AND outcome IS NULL RETURNING mitra_id`,
    [requestId, outcome],
  );
  return rows.map((r) => r.mitra_id);
}

/** Ends a searching request (failed or cancelled), conditionally: a matched or ended one is left alone. */
export async function endRequest(
  db: Queryable,
  id: string,
  status: "failed" | "cancelled",
  reason: string,
  now: Date,
): Promise<RequestRow | null> {
  const { rows } = await db.query<RequestRow>(
    `UPDATE pairing_requests SET status = $2, fail_reason = $3, ended_at = $4, next_batch_at = NULL
     WHERE id = $1 AND status = 'searching' RETURNING *`,
    [id, status, reason, now],
  );
  return rows[0] ?? null;
}

export async function markMatched(
  db: Queryable,
  id: string,
  mitraId: string,
  now: Date,
): Promise<RequestRow | null> {
  const { rows } = await db.query<RequestRow>(
    `UPDATE pairing_requests SET status = 'matched', matched_mitra_id = $2, ended_at = $3, next_batch_at = NULL
     WHERE id = $1 AND status = 'searching' RETURNING *`,
    [id, mitraId, now],
  );
  return rows[0] ?? null;
}

export interface OfferRow {
  outcome: "accepted" | "declined" | "taken" | "lapsed" | null;
  expires_at: Date;
}

export async function loadOffer(db: Queryable, requestId: string, mitraId: string): Promise<OfferRow | null> {
  const { rows } = await db.query<OfferRow>(
    "SELECT outcome, expires_at FROM pairing_offers WHERE request_id = $1 AND mitra_id = $2",
    [requestId, mitraId],
  );
  return rows[0] ?? null;
}

export async function setOfferOutcome(
  db: Queryable,
  requestId: string,
  mitraId: string,
  outcome: "accepted" | "declined",
): Promise<boolean> {
  const { rowCount } = await db.query(
    "UPDATE pairing_offers SET outcome = $3 WHERE request_id = $1 AND mitra_id = $2 AND outcome IS NULL",
    [requestId, mitraId, outcome],
  );
  return (rowCount ?? 0) > 0;
}

export async function openOfferCount(db: Queryable, requestId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pairing_offers WHERE request_id = $1 AND outcome IS NULL",
    [requestId],
  );
  return rows[0]?.n ?? 0;
}

/** Searching requests whose batch or wait is due by `before`. */
export async function dueRequests(db: Queryable, before: Date, limit: number): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM pairing_requests
     WHERE status = 'searching' AND (next_batch_at <= $1 OR deadline_at <= $1)
     ORDER BY next_batch_at LIMIT $2`,
    [before, limit],
  );
  return rows.map((r) => r.id);
}

export async function searchingRequests(db: Queryable): Promise<RequestRow[]> {
  const { rows } = await db.query<RequestRow>("SELECT * FROM pairing_requests WHERE status = 'searching'");
  return rows;
}

export async function displayNameOf(
  db: Queryable,
  table: "customers" | "mitras",
  id: string,
): Promise<string | null> {
  const { rows } = await db.query<{ display_name: string | null }>(
    `SELECT display_name FROM ${table} WHERE id = $1`,
    [id],
  );
  return rows[0]?.display_name ?? null;
}

/** An offer still waiting for its mitra's answer, as `pairing.offer` carries it. */
export interface OpenOfferRow {
  request_id: string;
  mitra_id: string;
  expires_at: Date;
  customer_name: string | null;
}

/**
 * Undecided, unexpired offers of searching requests: these mitras' (by
 * pairing_offers_mitra_offered_idx), or one request's (by its primary key).
 */
export async function openOffersOf(
  db: Queryable,
  of: { mitraIds: readonly string[] } | { requestId: string },
  now: Date,
): Promise<OpenOfferRow[]> {
  const [where, arg] =
    "requestId" in of ? ["o.request_id = $1", of.requestId] : ["o.mitra_id = ANY($1::uuid[])", of.mitraIds];
  const { rows } = await db.query<OpenOfferRow>(
    `SELECT o.request_id, o.mitra_id, o.expires_at, c.display_name AS customer_name
     FROM pairing_offers o
     JOIN pairing_requests r ON r.id = o.request_id AND r.status = 'searching'
     JOIN customers c ON c.id = r.customer_id
     WHERE ${where} AND o.outcome IS NULL AND o.expires_at > $2`,
    [arg, now],
  );
  return rows;
}

/** A customer's match whose session still waits for payment, as `pairing.matched` carries it. */
export interface PendingMatchRow {
  customer_id: string;
  request_id: string;
  session_id: string;
  mitra_id: string;
  mitra_name: string | null;
}

/** These customers' matches not yet paid for (one open session per customer; chat_sessions_customer_open_idx). */
export async function pendingMatchesOf(
  db: Queryable,
  customerIds: readonly string[],
): Promise<PendingMatchRow[]> {
  const { rows } = await db.query<PendingMatchRow>(
    `SELECT s.customer_id, s.pairing_request_id AS request_id, s.id AS session_id, s.mitra_id,
            m.display_name AS mitra_name
     FROM chat_sessions s JOIN mitras m ON m.id = s.mitra_id
     WHERE s.customer_id = ANY($1::uuid[]) AND s.status = 'pending_payment' AND s.pairing_request_id IS NOT NULL`,
    [customerIds],
  );
  return rows;
}

/** Whether the mitra's open sessions already fill its maximum (chat_sessions_mitra_open_idx). */
export async function isFull(db: Queryable, mitraId: string): Promise<boolean> {
  const { rows } = await db.query<{ full: boolean }>(
    `SELECT (SELECT count(*) FROM chat_sessions s
             WHERE s.mitra_id = m.id AND s.status IN ('active', 'pending_payment')) >= m.max_concurrent_sessions AS full
     FROM mitras m WHERE m.id = $1`,
    [mitraId],
  );
  return rows[0]?.full ?? false;
}
