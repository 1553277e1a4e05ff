import { CREATED_AT_US, decodeCursor, keysetPage } from "../db/keyset-cursor.js";
import type { Queryable } from "../db/pool.js";
import { isUuid } from "../ids.js";
import { type END_REASONS, SESSION_STATUSES } from "../protocol/index.js";
import { iso } from "../time-format.js";

export { SESSION_STATUSES };
export type SessionStatus = (typeof SESSION_STATUSES)[number];
export type EndReason = (typeof END_REASONS)[number];

/** A `chat_sessions` row as this module reads it. */
export interface SessionRow {
  id: string;
  customer_id: string;
  mitra_id: string;
  pairing_request_id: string | null;
  status: SessionStatus;
  end_reason: EndReason | null;
  created_at: Date;
  payment_deadline_at: Date | null;
  paid_at: Date | null;
  expires_at: Date | null;
  ended_at: Date | null;
}

/**
 * A chat session as clients see it (contract §5): ISO times with ms, `null`
 * when unset. A type, not an interface, so it is assignable to plain JSON records.
 */
export type SessionView = {
  id: string;
  status: SessionStatus;
  endReason: EndReason | null;
  customerId: string;
  mitraId: string;
  createdAt: string;
  paidAt: string | null;
  expiresAt: string | null;
  endedAt: string | null;
};

const COLUMNS =
  "id, customer_id, mitra_id, pairing_request_id, status, end_reason, created_at, payment_deadline_at, paid_at, expires_at, ended_at";

export function sessionView(r: SessionRow): SessionView {
  return {
    id: r.id,
    status: r.status,
    endReason: r.end_reason,
    customerId: r.customer_id,
    mitraId: r.mitra_id,
    createdAt: r.created_at.toISOString(),
    paidAt: iso(r.paid_at),
    expiresAt: iso(r.expires_at),
    endedAt: iso(r.ended_at),
  };
}

/**
 * A new session waiting for payment. Called by pairing inside its accept
 * transaction (pairing owns its tables, sessions own `chat_sessions`); after
 * that commits, pairing calls `Sessions.opened` for the timer and capacity.
 */
export async function insertPendingSession(
  tx: Queryable,
  p: {
    customerId: string;
    mitraId: string;
    pairingRequestId: string | null;
    now: Date;
    paymentTimeoutSeconds: number;
  },
): Promise<SessionView> {
  const deadline = new Date(p.now.getTime() + p.paymentTimeoutSeconds * 1000);
  const { rows } = await tx.query<SessionRow>(
    `INSERT INTO chat_sessions (customer_id, mitra_id, pairing_request_id, status, created_at, payment_deadline_at)
     VALUES ($1, $2, $3, 'pending_payment', $4, $5) RETURNING ${COLUMNS}`,
    [p.customerId, p.mitraId, p.pairingRequestId, p.now, deadline],
  );
  return sessionView(rows[0] as SessionRow);
}

export async function findSession(db: Queryable, id: string): Promise<SessionRow | undefined> {
  if (!isUuid(id)) return undefined;
  const { rows } = await db.query<SessionRow>(`SELECT ${COLUMNS} FROM chat_sessions WHERE id = $1`, [id]);
  return rows[0];
}

/** A party's open sessions (pending_payment or active), newest first. */
export async function openSessionsOf(
  db: Queryable,
  party: "customer" | "mitra",
  userId: string,
): Promise<SessionRow[]> {
  const column = party === "customer" ? "customer_id" : "mitra_id";
  const { rows } = await db.query<SessionRow>(
    `SELECT ${COLUMNS} FROM chat_sessions WHERE ${column} = $1 AND status <> 'ended'
     ORDER BY created_at DESC, id LIMIT 200`,
    [userId],
  );
  return rows;
}

/** Every open session's next deadline (timers are restored from this at start). */
export async function openDeadlines(db: Queryable): Promise<{ id: string; at: Date }[]> {
  const { rows } = await db.query<{ id: string; at: Date | null }>(
    `SELECT id, CASE status WHEN 'active' THEN expires_at ELSE payment_deadline_at END AS at
     FROM chat_sessions WHERE status <> 'ended'`,
  );
  return rows.filter((r): r is { id: string; at: Date } => r.at !== null);
}

/** When an open session's deadline falls, or null (ended, or no deadline set). */
export function deadlineOf(r: SessionRow): Date | null {
  if (r.status === "active") return r.expires_at;
  if (r.status === "pending_payment") return r.payment_deadline_at;
  return null;
}

/** True when the session's deadline has passed and only its timed ending (EXPIRED, PAYMENT_TIMEOUT) may apply. */
export function isDue(r: SessionRow, now: Date): boolean {
  const at = deadlineOf(r);
  return at !== null && at.getTime() <= now.getTime();
}

/*
 * The transitions. Each is ONE conditional UPDATE: the WHERE names the state
 * it starts from (and, for the timed endings, that the deadline has passed;
 * for the others, that it has not), so two processes or a replayed timer
 * apply it once and the loser gets no row. `$2` is always `now`.
 */
const NOT_DUE = `coalesce(CASE status WHEN 'active' THEN expires_at ELSE payment_deadline_at END > $2::timestamptz, true)`;
const EXPIRY_DUE = `status = 'active' AND expires_at <= $2::timestamptz`;
const PAYMENT_DUE = `status = 'pending_payment' AND payment_deadline_at <= $2::timestamptz`;

export type Transition =
  | { kind: "pay"; sessionMinutes: number }
  | { kind: "extend"; minutes: number }
  | { kind: "end"; reason: "ENDED_BY_CUSTOMER" | "ENDED_BY_MITRA"; from: SessionStatus }
  | { kind: "expire" }
  | { kind: "paymentTimeout" };

function transitionSql(t: Transition): { sql: string; params: unknown[] } {
  switch (t.kind) {
    case "pay":
      return {
        sql: `SET status = 'active', paid_at = $2::timestamptz, expires_at = $2::timestamptz + make_interval(mins => $3::int)
              WHERE id = $1 AND status = 'pending_payment' AND ${NOT_DUE}`,
        params: [t.sessionMinutes],
      };
    case "extend":
      return {
        sql: `SET expires_at = coalesce(expires_at, $2::timestamptz) + make_interval(mins => $3::int)
              WHERE id = $1 AND status = 'active' AND ${NOT_DUE}`,
        params: [t.minutes],
      };
    case "end":
      return {
        sql: `SET status = 'ended', end_reason = $3, ended_at = $2::timestamptz
              WHERE id = $1 AND status = $4 AND ${NOT_DUE}`,
        params: [t.reason, t.from],
      };
    case "expire":
      // Ended at the moment it was due, even when a sweep gets there later.
      return {
        sql: `SET status = 'ended', end_reason = 'EXPIRED', ended_at = expires_at WHERE id = $1 AND ${EXPIRY_DUE}`,
        params: [],
      };
    case "paymentTimeout":
      return {
        sql: `SET status = 'ended', end_reason = 'PAYMENT_TIMEOUT', ended_at = payment_deadline_at
              WHERE id = $1 AND ${PAYMENT_DUE}`,
        params: [],
      };
  }
}

/** Applies one transition; the new row, or undefined when the session was not in the state it starts from. */
export async function applyTransition(
  db: Queryable,
  id: string,
  t: Transition,
  now: Date,
): Promise<SessionRow | undefined> {
  const { sql, params } = transitionSql(t);
  const { rows } = await db.query<SessionRow>(`UPDATE chat_sessions ${sql} RETURNING ${COLUMNS}`, [
    id,
    now,
    ...params,
  ]);
  return rows[0];
}

/** REROUTED: every pending_payment session of these mitras whose payment is not yet due, in one statement. */
export async function rerouteSessionsOf(
  db: Queryable,
  mitraIds: readonly string[],
  now: Date,
): Promise<SessionRow[]> {
  const { rows } = await db.query<SessionRow>(
    `UPDATE chat_sessions SET status = 'ended', end_reason = 'REROUTED', ended_at = $2::timestamptz
     WHERE mitra_id = ANY($1::uuid[]) AND status = 'pending_payment' AND ${NOT_DUE}
     RETURNING ${COLUMNS}`,
    [mitraIds, now],
  );
  return rows;
}

/**
 * The overdue sweep's batch: up to `limit` sessions past their deadline get
 * their timed ending (EXPIRED or PAYMENT_TIMEOUT) under the same conditions as
 * `expire` and `paymentTimeout`, re-checked on the row itself by the UPDATE.
 */
export async function endOverdue(db: Queryable, now: Date, limit: number): Promise<SessionRow[]> {
  const { rows } = await db.query<SessionRow>(
    `UPDATE chat_sessions
     SET status = 'ended',
         end_reason = CASE status WHEN 'active' THEN 'EXPIRED' ELSE 'PAYMENT_TIMEOUT' END,
         ended_at = CASE status WHEN 'active' THEN expires_at ELSE payment_deadline_at END
     WHERE id IN (SELECT id FROM chat_sessions WHERE (${EXPIRY_DUE}) OR (${PAYMENT_DUE}) LIMIT $1)
       AND ((${EXPIRY_DUE}) OR (${PAYMENT_DUE}))
     RETURNING ${COLUMNS}`,
    [limit, now],
  );
  return rows;
}

export { isUuid };

/** Operators' view of the open sessions (control center), newest first, keyset-paged. */
export async function listOpenSessions(
  db: Queryable,
  q: { status?: "pending_payment" | "active" | undefined; cursor?: string | undefined; limit: number },
  now: Date,
): Promise<{ items: (SessionView & { ageSeconds: number })[]; nextCursor: string | null }> {
  const params: unknown[] = [q.status ? [q.status] : ["pending_payment", "active"]];
  let after = "";
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    params.push(c.createdAt, c.id);
    after = "AND (created_at, id) < ($2::timestamptz, $3::uuid)";
  }
  params.push(q.limit + 1);
  const { rows } = await db.query<SessionRow & { created_at_us: string }>(
    `SELECT ${COLUMNS}, ${CREATED_AT_US} FROM chat_sessions
     WHERE status = ANY($1::text[]) ${after}
     ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const { page, nextCursor } = keysetPage(rows, q.limit);
  return {
    items: page.map((r) => ({
      ...sessionView(r),
      ageSeconds: Math.max(0, Math.floor((now.getTime() - r.created_at.getTime()) / 1000)),
    })),
    nextCursor,
  };
}
