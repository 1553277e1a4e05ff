import { validationFailed } from "../errors.js";
import { isUuid } from "../ids.js";

/**
 * Keyset paging cursors over `(created_at, id)`, newest first. The cursor keeps
 * created_at to the microsecond: a JS Date would cut it to the millisecond and
 * skip rows created within the same millisecond as a page's last.
 */
export const CREATED_AT_US = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_us`;

export function encodeCursor(createdAtUs: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAtUs, id])).toString("base64url");
}

/** Exactly what encodeCursor writes; anything else (another date form, year 0, month 13) is refused, not sent to Postgres. */
const CURSOR_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$/;

export function decodeCursor(cursor: string): { createdAt: string; id: string } {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString());
    if (Array.isArray(parsed) && parsed.length === 2) {
      const [createdAt, id] = parsed as unknown[];
      if (typeof createdAt === "string" && typeof id === "string" && isUuid(id) && validTime(createdAt))
        return { createdAt, id };
    }
  } catch {
    // fall through
  }
  throw validationFailed([{ path: "cursor", message: "Invalid cursor" }], "Invalid cursor");
}

function validTime(text: string): boolean {
  const m = CURSOR_TIME_RE.exec(text);
  if (!m || m[1] === "0000") return false;
  // A real calendar time: the millisecond part must read back unchanged (no 2021-02-30 rolled over).
  const ms = `${text.slice(0, 23)}Z`;
  const t = Date.parse(ms);
  return !Number.isNaN(t) && new Date(t).toISOString() === ms;
}

/**
 * Splits `limit + 1` rows (as fetched) into the page and the cursor of the
 * next one: a cursor only when a row beyond the page exists.
 */
export function keysetPage<R extends { created_at_us: string; id: string }>(
  rows: readonly R[],
  limit: number,
): { page: R[]; nextCursor: string | null } {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return { page, nextCursor: rows.length > limit && last ? encodeCursor(last.created_at_us, last.id) : null };
}
