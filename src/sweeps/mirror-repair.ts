import type { SweepOutcome } from "./auto-offline.js";

/**
 * Runs the reseed after the mirror may have missed a write (MirrorSeed
 * `damaged`: a failed mirror write, a failover of the node holding it) and
 * again every `everyMs` until one run completes: a repair asked for while
 * Valkey is still failing over fails too, and nothing else would retry it
 * before the reseed's own cadence (minutes). Requests while one is pending
 * share it; the first run waits `everyMs`, which lets a failover settle and
 * gathers a burst of failed writes into one reseed.
 */
export class MirrorRepair {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private wanted = false;
  private stopped = false;

  constructor(
    private readonly reseed: () => Promise<SweepOutcome | undefined>,
    /** False while Valkey is known down: no attempt (each would fail and log); its return reseeds anyway. */
    private readonly usable: () => boolean = () => true,
    private readonly everyMs = 1000,
  ) {}

  request(): void {
    if (this.stopped) return;
    this.wanted = true;
    if (!this.running && !this.timer) this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = setTimeout(() => void this.run(), this.everyMs);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    if (!this.usable()) return this.schedule();
    this.running = true;
    this.wanted = false;
    let done = false;
    try {
      // "skipped": another process holds the reseed's lock, i.e. is rebuilding the mirror from
      // Postgres now (after a failover every process asks; one rebuild serves them all).
      const outcome = (await this.reseed())?.outcome;
      done = outcome === "done" || outcome === "skipped";
    } catch {
      // counted and logged by the scheduler
    } finally {
      this.running = false;
    }
    if (!done) this.wanted = true;
    if (this.wanted && !this.stopped) this.schedule();
  }
}
