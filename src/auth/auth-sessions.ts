import type { Pool, Queryable } from "../db/pool.js";
import type { UserType } from "./user-types.js";

export interface SessionMeta {
  userAgent?: string | undefined;
  ip?: string | undefined;
}

export async function createAuthSession(
  tx: Queryable,
  userType: UserType,
  userId: string,
  now: Date,
  meta: SessionMeta = {},
): Promise<string> {
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO auth_sessions (user_type, user_id, created_at, last_used_at, user_agent, ip)
     VALUES ($1, $2, $3, $3, $4, $5) RETURNING id`,
    [userType, userId, now, meta.userAgent?.slice(0, 300) ?? null, meta.ip ?? null],
  );
  return (rows[0] as { id: string }).id;
}

/*
 * Every revocation (logout, logout-all, refresh-token reuse, deactivation, a password change) goes
 * through the two functions below. Each is one statement whose data-modifying CTE also deletes the
 * revoked sessions' push tokens (contract §11), so no push can reach a device signed out a moment
 * before, and no caller can revoke and forget the tokens.
 */

/** Revokes the given sessions (those not already revoked) and drops their push tokens; returns the sids it revoked. */
export async function revokeSessions(
  db: Queryable | Pool,
  sids: string[],
  reason: string,
  now: Date,
): Promise<string[]> {
  if (sids.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `WITH revoked AS (
       UPDATE auth_sessions SET revoked_at = $2, revoke_reason = $3
       WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL RETURNING id
     ), devices AS (
       DELETE FROM push_devices WHERE auth_session_id IN (SELECT id FROM revoked)
     )
     SELECT id FROM revoked`,
    [sids, now, reason],
  );
  return rows.map((r) => r.id);
}

/** Revokes every live session of a user, except `keepSid` if given, and drops their push tokens; returns the sids it revoked. */
export async function revokeUserSessions(
  db: Queryable | Pool,
  userType: UserType,
  userId: string,
  reason: string,
  now: Date,
  keepSid?: string,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `WITH revoked AS (
       UPDATE auth_sessions SET revoked_at = $3, revoke_reason = $4
       WHERE user_type = $1 AND user_id = $2 AND revoked_at IS NULL AND ($5::uuid IS NULL OR id <> $5::uuid)
       RETURNING id
     ), devices AS (
       DELETE FROM push_devices WHERE auth_session_id IN (SELECT id FROM revoked)
     )
     SELECT id FROM revoked`,
    [userType, userId, now, reason, keepSid ?? null],
  );
  return rows.map((r) => r.id);
}
