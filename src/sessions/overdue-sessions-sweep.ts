import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { SweepOutcome } from "../sweeps/auto-offline.js";
import { SWEEP_IDS, withSweepLock } from "../sweeps/sweep-lock.js";
import { endOverdue } from "./session-store.js";
import type { Sessions } from "./sessions.js";

/** Sessions ended per locked transaction; a backlog is worked through in several. */
const BATCH = 500;

export interface OverdueSessionsSweepDeps {
  pool: Pool;
  now: Clock;
  sessions: Pick<Sessions, "settled">;
}

/**
 * Ends every session past its deadline (EXPIRED, PAYMENT_TIMEOUT) that no
 * timer ended: the backstop for a process killed with SIGKILL while it held
 * the only timer. It lives with the sessions, not in src/sweeps, because it
 * is their transitions: the same conditions as `expire`/`paymentTimeout`,
 * re-checked on each row by the UPDATE, so it and any timer end a session once.
 * The advisory lock keeps several processes from doing the batch twice; the
 * effects (capacity, `session.updated`) run after each batch commits.
 */
export class OverdueSessionsSweep {
  constructor(private readonly d: OverdueSessionsSweepDeps) {}

  async run(): Promise<SweepOutcome> {
    let changed = 0;
    for (;;) {
      const r = await withSweepLock(this.d.pool, SWEEP_IDS.overdueSessions, (tx) =>
        endOverdue(tx, this.d.now(), BATCH),
      );
      if (!r.ran) return changed > 0 ? { outcome: "done", changed } : { outcome: "skipped" };
      await this.d.sessions.settled(r.result);
      changed += r.result.length;
      if (r.result.length < BATCH) return { outcome: "done", changed };
    }
  }
}
