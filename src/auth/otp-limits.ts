import type { Tunables } from "../app-config/tunables.js";
import { secondsUntil } from "../clock.js";
import type { Queryable } from "../db/pool.js";
import { AppError } from "../errors.js";

const HOUR_MS = 3_600_000;

export interface RequestBlock {
  code: "RESEND_COOLDOWN" | "RATE_LIMITED";
  /** The earliest time a new code may be requested. */
  until: Date;
  why: string;
}

/**
 * Whether a new code may be requested now for this phone (and from this IP),
 * counted from `otp_requests` rows so the limits hold across processes and
 * while Valkey is down. The caller holds the phone's (and IP's) advisory lock,
 * so two requests cannot both see room for one more.
 *
 * When several limits hold, the one that lasts longest answers: its
 * `retryAfterSeconds` is the true wait, not a wait that ends in another 429.
 */
export async function requestBlock(
  tx: Queryable,
  phone: string,
  ip: string | null,
  t: Tunables,
  now: Date,
): Promise<RequestBlock | null> {
  const blocks: RequestBlock[] = [];
  const byPhone = await recent(tx, "phone", phone, t.otp_max_per_phone_per_hour, now);
  const last = byPhone[0];
  // The cooldown (≤ 1 h by its schema) spans both flows and is not lifted by a successful verify.
  if (last && last.getTime() + t.otp_resend_cooldown_seconds * 1000 > now.getTime()) {
    blocks.push({
      code: "RESEND_COOLDOWN",
      until: new Date(last.getTime() + t.otp_resend_cooldown_seconds * 1000),
      why: "A code was sent to this phone moments ago; wait before asking for another",
    });
  }
  const phoneFull = hourlyBlock(byPhone, t.otp_max_per_phone_per_hour, "Too many codes for this phone");
  if (phoneFull) blocks.push(phoneFull);
  if (ip !== null) {
    const byIp = await recent(tx, "ip", ip, t.otp_max_per_ip_per_hour, now);
    const ipFull = hourlyBlock(byIp, t.otp_max_per_ip_per_hour, "Too many codes requested from this address");
    if (ipFull) blocks.push(ipFull);
  }
  return blocks.reduce<RequestBlock | null>((a, b) => (a && a.until >= b.until ? a : b), null);
}

export function blockError(block: RequestBlock, now: Date): AppError {
  return new AppError(block.code, 429, block.why, { retryAfterSeconds: secondsUntil(block.until, now) });
}

/** Creation times of the newest `limit` requests of the last hour, newest first. */
async function recent(
  tx: Queryable,
  column: "phone" | "ip",
  value: string,
  limit: number,
  now: Date,
): Promise<Date[]> {
  const { rows } = await tx.query<{ created_at: Date }>(
    `SELECT created_at FROM otp_requests WHERE ${column} = $1 AND created_at > $2
     ORDER BY created_at DESC LIMIT $3`,
    [value, new Date(now.getTime() - HOUR_MS), limit],
  );
  return rows.map((r) => r.created_at);
}

/** With `limit` requests in the last hour, the next is allowed when the oldest of them leaves the window. */
function hourlyBlock(newestFirst: Date[], limit: number, why: string): RequestBlock | null {
  const oldestCounted = newestFirst[limit - 1];
  if (newestFirst.length < limit || !oldestCounted) return null;
  return { code: "RATE_LIMITED", until: new Date(oldestCounted.getTime() + HOUR_MS), why };
}
