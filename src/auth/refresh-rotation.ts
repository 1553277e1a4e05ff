import type { PoolClient, Queryable } from "../db/pool.js";
import { AppError } from "../errors.js";
import type { TokenCrypto } from "./token-crypto.js";
import type { UserType } from "./user-types.js";

export interface RotationPolicy {
  ttlDays: number;
  graceSeconds: number;
}

/** Stores a refresh token (its hash) for a session; it lives `ttlDays` from its issue. */
export async function storeRefreshToken(
  tx: Queryable,
  crypto: TokenCrypto,
  sid: string,
  token: string,
  now: Date,
  ttlDays: number,
  parentId: string | null = null,
): Promise<string> {
  const expires = new Date(now.getTime() + ttlDays * 86_400_000);
  const { rows } = await tx.query<{ id: string }>(
    `INSERT INTO refresh_tokens (session_id, token_hash, parent_id, issued_at, expires_at)
     VALUES ($1, $2, $3, $4, $5) RETURNING id`,
    [sid, crypto.hash(token), parentId, now, expires],
  );
  return (rows[0] as { id: string }).id;
}

export type Rotation =
  | { kind: "rotated"; sid: string; userType: UserType; userId: string; refreshToken: string }
  | { kind: "reused"; sid: string };

interface Row {
  id: string;
  session_id: string;
  expires_at: Date;
  rotated_at: Date | null;
  user_type: UserType;
  user_id: string;
  revoked_at: Date | null;
  successor_rotated_at: Date | null;
}

/**
 * One use of a refresh token, inside the caller's transaction (contract §2):
 *
 * - unused and live → rotated: a successor is stored and returned;
 * - already rotated, presented again within the grace window while its
 *   successor is unused → the *same* successor (derived from the token, never
 *   stored in clear) — a client whose response was lost stays signed in;
 * - any other second use → "reused": the caller revokes the session.
 *
 * `checkActive` runs first of all: a deactivated account answers
 * ACCOUNT_INACTIVE before any other check. The row lock serialises
 * concurrent uses of one token, so they all end on one chain.
 */
export async function rotateRefreshToken(
  tx: PoolClient,
  crypto: TokenCrypto,
  presented: string,
  allowed: readonly UserType[],
  policy: RotationPolicy,
  now: Date,
  checkActive: (userType: UserType, userId: string) => Promise<void>,
): Promise<Rotation> {
  if (!crypto.isWellFormed(presented)) throw refreshInvalid();
  const { rows } = await tx.query<Row>(
    `SELECT rt.id, rt.session_id, rt.expires_at, rt.rotated_at,
            s.user_type, s.user_id, s.revoked_at, succ.rotated_at AS successor_rotated_at
     FROM refresh_tokens rt
     JOIN auth_sessions s ON s.id = rt.session_id
     LEFT JOIN refresh_tokens succ ON succ.id = rt.successor_id
     WHERE rt.token_hash = $1
     FOR UPDATE OF rt`,
    [crypto.hash(presented)],
  );
  const row = rows[0];
  if (!row || !allowed.includes(row.user_type)) throw refreshInvalid();

  await checkActive(row.user_type, row.user_id);
  if (row.revoked_at) throw new AppError("SESSION_REVOKED", 401, "This session was revoked");

  const successor = crypto.successorOf(presented);
  const rotated: Rotation = {
    kind: "rotated",
    sid: row.session_id,
    userType: row.user_type,
    userId: row.user_id,
    refreshToken: successor,
  };
  if (row.rotated_at === null) {
    if (row.expires_at.getTime() <= now.getTime())
      throw new AppError("REFRESH_EXPIRED", 401, "Refresh token expired");
    const successorId = await storeRefreshToken(
      tx,
      crypto,
      row.session_id,
      successor,
      now,
      policy.ttlDays,
      row.id,
    );
    await tx.query("UPDATE refresh_tokens SET rotated_at = $2, successor_id = $3 WHERE id = $1", [
      row.id,
      now,
      successorId,
    ]);
    await tx.query("UPDATE auth_sessions SET last_used_at = $2 WHERE id = $1", [row.session_id, now]);
    return rotated;
  }

  const sinceRotation = now.getTime() - row.rotated_at.getTime();
  if (sinceRotation <= policy.graceSeconds * 1000 && row.successor_rotated_at === null) {
    return rotated;
  }
  return { kind: "reused", sid: row.session_id };
}

export const refreshInvalid = (): AppError =>
  new AppError("REFRESH_INVALID", 401, "Unknown or malformed refresh token");
