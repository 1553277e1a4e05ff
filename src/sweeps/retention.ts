import type { AppConfigStore } from "../app-config/app-config-store.js";
import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import { IDEMPOTENCY_TTL_HOURS } from "../idempotency/idempotency.js";
import type { SweepOutcome } from "./auto-offline.js";
import { SWEEP_IDS, withSweepLock } from "./sweep-lock.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** OTP rows are needed for 1 h (hourly limits, cooldown, code ttl, all ≤ 1 h); a day is kept for support. */
const OTP_KEEP_MS = DAY_MS;
/** A voided link answers LINK_INVALID with or without its row: a day is plenty. */
const VOIDED_LINK_KEEP_MS = DAY_MS;
/**
 * A used or expired link answers LINK_USED / LINK_EXPIRED only while its row
 * exists (then LINK_INVALID): kept long enough that an old invitation mail
 * still says "expired" when opened late.
 */
const SPENT_LINK_KEEP_MS = 30 * DAY_MS;

export interface RetentionDeps {
  pool: Pool;
  now: Clock;
  appConfig: Pick<AppConfigStore, "get">;
  /** Rows per DELETE (tests shrink it to exercise the batching). */
  batchSize?: number;
  /** Batches per table per run: a huge backlog is worked off over several runs. */
  maxBatches?: number;
}

interface Prune {
  table: string;
  where: string;
  params: unknown[];
}

/**
 * Deletes rows nothing needs any more (hourly): idempotency keys past 24 h,
 * OTP requests past their limits' windows, login-failure streaks that no
 * longer count, and spent operator links.
 *
 * The advisory lock's transaction only holds the lock: each batch is its own
 * autocommitted `DELETE … WHERE ctid = ANY(ARRAY(SELECT ctid … LIMIT n))`, so
 * no run holds many row locks or one long write transaction. The condition is
 * repeated on the DELETE itself, so a row updated since the SELECT (a new
 * login failure) is re-checked and kept.
 */
export class Retention {
  private readonly batchSize: number;
  private readonly maxBatches: number;

  constructor(private readonly d: RetentionDeps) {
    this.batchSize = d.batchSize ?? 10_000;
    this.maxBatches = d.maxBatches ?? 100;
  }

  async run(): Promise<SweepOutcome> {
    const r = await withSweepLock(this.d.pool, SWEEP_IDS.retention, () => this.prune());
    return r.ran ? { outcome: "done", changed: r.result } : { outcome: "skipped" };
  }

  private async prune(): Promise<number> {
    const now = this.d.now();
    const ago = (ms: number) => new Date(now.getTime() - ms);
    const { cc_lockout_seconds } = await this.d.appConfig.get();
    const plan: Prune[] = [
      {
        // An in-flight row past 24 h whose lease still runs is left to its claimant.
        table: "idempotency_keys",
        where: "created_at <= $1 AND (state = 'done' OR claimed_until <= $2)",
        params: [ago(IDEMPOTENCY_TTL_HOURS * HOUR_MS), now],
      },
      {
        table: "otp_requests",
        where: "created_at <= $1 AND expires_at <= $1",
        params: [ago(OTP_KEEP_MS)],
      },
      {
        // Exactly the streaks login-lockout would restart anyway (see its STREAK_OVER): quiet for a
        // whole lockout period and not locked now. Deleting one changes no answer.
        table: "cc_login_failures",
        where: "updated_at <= $1 AND (locked_until IS NULL OR locked_until <= $2)",
        params: [ago(cc_lockout_seconds * 1000), now],
      },
      {
        table: "cc_link_tokens",
        where: "voided_at <= $1 OR used_at <= $2 OR expires_at <= $2",
        params: [ago(VOIDED_LINK_KEEP_MS), ago(SPENT_LINK_KEEP_MS)],
      },
    ];
    let deleted = 0;
    for (const p of plan) deleted += await this.pruneTable(p);
    return deleted;
  }

  private async pruneTable(p: Prune): Promise<number> {
    const limit = `$${p.params.length + 1}`;
    const sql = `DELETE FROM ${p.table}
      WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${p.table} WHERE ${p.where} LIMIT ${limit}))
        AND (${p.where})`;
    let total = 0;
    for (let i = 0; i < this.maxBatches; i++) {
      const { rowCount } = await this.d.pool.query(sql, [...p.params, this.batchSize]);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < this.batchSize) break;
    }
    return total;
  }
}
