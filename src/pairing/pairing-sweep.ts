import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { SweepOutcome } from "../sweeps/auto-offline.js";
import { SWEEP_IDS, withSweepLock } from "../sweeps/sweep-lock.js";
import type { Pairing } from "./pairing.js";
import { dueRequests } from "./pairing-store.js";

/** The process that owns a request normally acts at its deadline; the sweep acts only after this much more. */
const GRACE_MS = 1000;
/** Requests advanced per run (a backlog drains over the next runs). */
const BATCH = 500;
/** Seconds between runs: a request whose process died waits at most this long past its deadline. */
export const PAIRING_SWEEP_SECONDS = 5;

/**
 * Carries on the searching requests whose batch or wait is overdue — the
 * process that started them died or is gone. Each advance is conditional on
 * the state it read, so a live timer racing the sweep changes nothing twice.
 */
export class PairingSweep {
  constructor(
    private readonly pool: Pool,
    private readonly pairing: Pairing,
    private readonly now: Clock,
  ) {}

  async run(): Promise<SweepOutcome> {
    const before = new Date(this.now().getTime() - GRACE_MS);
    const r = await withSweepLock(this.pool, SWEEP_IDS.pairing, (tx) => dueRequests(tx, before, BATCH));
    if (!r.ran) return { outcome: "skipped" };
    for (const id of r.result) await this.pairing.advance(id);
    return { outcome: "done", changed: r.result.length };
  }
}
