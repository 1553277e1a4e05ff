import type { AppConfigStore } from "../app-config/app-config-store.js";
import { secondsUntil } from "../clock.js";
import type { Queryable } from "../db/pool.js";
import { AppError } from "../errors.js";

/** The key failures are counted under: the submitted email, trimmed and lower-cased. */
export const lockoutKey = (email: string): string => email.trim().toLowerCase();

/** A lockout that has ended, or a streak quiet for a whole lockout period, starts the count again. */
const STREAK_OVER = `((f.locked_until IS NOT NULL AND f.locked_until <= $2)
  OR (f.locked_until IS NULL AND f.updated_at <= $2::timestamptz - make_interval(secs => $4::int)))`;

/**
 * Operator login lockout (contract §2), counted in `cc_login_failures` per
 * submitted email whether or not an account has it, so a lockout reveals
 * nothing. The `cc_max_failed_logins`-th failure still answers 401 and starts
 * a lockout of `cc_lockout_seconds`; during it every attempt answers 423, even
 * with the right password. A success resets the count; once a lockout ends
 * (or a streak has been quiet for as long as a lockout), counting starts afresh.
 *
 * Time comes from the injected clock and reaches SQL as a parameter, so tests
 * move the clock instead of sleeping.
 */
export class LoginLockout {
  constructor(private readonly appConfig: Pick<AppConfigStore, "get">) {}

  /** Throws 423 ACCOUNT_LOCKED while `key` is locked. */
  async assertNotLocked(db: Queryable, key: string, now: Date): Promise<void> {
    const { rows } = await db.query<{ locked_until: Date }>(
      "SELECT locked_until FROM cc_login_failures WHERE email = $1 AND locked_until > $2",
      [key, now],
    );
    if (rows[0]) throw accountLocked(rows[0].locked_until, now);
  }

  /**
   * Counts one failure in one atomic statement (concurrent failures serialise
   * on the row). Returns the 423 to answer when a lockout was already running
   * as this failure was counted (an attempt that raced past
   * `assertNotLocked`), else null: the failure that starts a lockout still
   * answers 401.
   */
  async recordFailure(db: Queryable, key: string, now: Date): Promise<AppError | null> {
    const t = await this.appConfig.get();
    const { rows } = await db.query<{ failed_count: number; locked_until: Date | null }>(
      `INSERT INTO cc_login_failures AS f (email, failed_count, locked_until, updated_at)
       VALUES ($1, 1, CASE WHEN 1 >= $3 THEN $2::timestamptz + make_interval(secs => $4::int) END, $2)
       ON CONFLICT (email) DO UPDATE SET
         failed_count = CASE WHEN ${STREAK_OVER} THEN 1 ELSE f.failed_count + 1 END,
         locked_until = CASE
           WHEN f.locked_until > $2 THEN f.locked_until
           WHEN (CASE WHEN ${STREAK_OVER} THEN 1 ELSE f.failed_count + 1 END) >= $3
             THEN $2::timestamptz + make_interval(secs => $4::int)
         END,
         updated_at = $2
       RETURNING failed_count, locked_until`,
      [key, now, t.cc_max_failed_logins, t.cc_lockout_seconds],
    );
    const row = rows[0] as { failed_count: number; locked_until: Date | null };
    // Past the limit means a lockout was already running when this attempt was counted.
    const raced = row.failed_count > t.cc_max_failed_logins && row.locked_until !== null;
    return raced ? accountLocked(row.locked_until as Date, now) : null;
  }

  /**
   * Resets the count after a correct password, inside the sign-in transaction.
   * If a lockout started meanwhile (concurrent failures), the sign-in is
   * refused with 423 and the transaction rolls the reset back.
   */
  async clearAfterSuccess(tx: Queryable, key: string, now: Date): Promise<void> {
    const { rows } = await tx.query<{ locked_until: Date | null }>(
      "DELETE FROM cc_login_failures WHERE email = $1 RETURNING locked_until",
      [key],
    );
    const lockedUntil = rows[0]?.locked_until;
    if (lockedUntil && lockedUntil.getTime() > now.getTime()) throw accountLocked(lockedUntil, now);
  }

  /** Lifts any lockout of `key` (a completed password reset or an admin's forced reset). */
  async clear(db: Queryable, key: string): Promise<void> {
    await db.query("DELETE FROM cc_login_failures WHERE email = $1", [key]);
  }
}

export const accountLocked = (until: Date, now: Date): AppError =>
  new AppError("ACCOUNT_LOCKED", 423, "Too many failed logins; try again later", {
    retryAfterSeconds: secondsUntil(until, now),
  });
