import type { Queryable } from "../db/pool.js";

/** The link of the last mail recorded for `to` (case-insensitive), or null. */
export async function lastLinkTo(db: Queryable, to: string): Promise<string | null> {
  const { rows } = await db.query<{ link: string }>(
    "SELECT link FROM mail_outbox WHERE lower(to_email) = lower($1) ORDER BY id DESC LIMIT 1",
    [to.trim()],
  );
  return rows[0]?.link ?? null;
}
