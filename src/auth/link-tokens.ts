import type { Queryable } from "../db/pool.js";
import type { OperatorStatus } from "./operator-store.js";

/** `cc_link_tokens`: one-time links (invitation, password reset), stored only as keyed hashes. */

export type LinkKind = "invite" | "reset";

export interface LinkRow {
  id: string;
  user_id: string;
  kind: LinkKind;
  expires_at: Date;
  used_at: Date | null;
  voided_at: Date | null;
  user_email: string;
  user_status: OperatorStatus;
}

/** Stores a new link and voids the user's older unused links of the same kind, in one statement. */
export async function storeLink(
  db: Queryable,
  l: { userId: string; kind: LinkKind; tokenHash: Buffer; expiresAt: Date; now: Date },
): Promise<void> {
  await db.query(
    `WITH voided AS (
       UPDATE cc_link_tokens SET voided_at = $5
       WHERE user_id = $1 AND kind = $2 AND used_at IS NULL AND voided_at IS NULL
     )
     INSERT INTO cc_link_tokens (user_id, kind, token_hash, expires_at, created_at)
     VALUES ($1, $2, $3, $4, $5)`,
    [l.userId, l.kind, l.tokenHash, l.expiresAt, l.now],
  );
}

/** Voids every unused link of a user (their password was set another way). */
export async function voidLinks(db: Queryable, userId: string, now: Date): Promise<void> {
  await db.query(
    "UPDATE cc_link_tokens SET voided_at = $2 WHERE user_id = $1 AND used_at IS NULL AND voided_at IS NULL",
    [userId, now],
  );
}

/** Links of `kind` issued to a user since `since` (used, voided or not). */
export async function countLinksSince(
  db: Queryable,
  userId: string | null,
  kind: LinkKind,
  since: Date,
): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM cc_link_tokens WHERE user_id = $1 AND kind = $2 AND created_at > $3",
    [userId, kind, since],
  );
  return rows[0]?.n ?? 0;
}

/**
 * The link with this hash and kind, with its operator. `forUpdate` locks the
 * link row, so two uses of one token serialise: the second sees it used.
 */
export async function findLink(
  db: Queryable,
  tokenHash: Buffer,
  kind: LinkKind,
  forUpdate: boolean,
): Promise<LinkRow | null> {
  const { rows } = await db.query<LinkRow>(
    `SELECT t.id, t.user_id, t.kind, t.expires_at, t.used_at, t.voided_at,
            u.email AS user_email, u.status AS user_status
     FROM cc_link_tokens t JOIN control_center_users u ON u.id = t.user_id
     WHERE t.token_hash = $1 AND t.kind = $2
     ${forUpdate ? "FOR UPDATE OF t" : ""}`,
    [tokenHash, kind],
  );
  return rows[0] ?? null;
}

export async function markLinkUsed(db: Queryable, id: string, now: Date): Promise<void> {
  await db.query("UPDATE cc_link_tokens SET used_at = $2 WHERE id = $1", [id, now]);
}
