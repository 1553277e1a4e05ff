import type { Clock } from "./clock.js";
import type { Logger } from "./log.js";

/** setTimeout's longest delay (2^31 − 1 ms, about 24.8 days); a later deadline is reached in hops. */
const MAX_DELAY_MS = 2_147_483_647;
/** After a failed firing (Postgres down), try again this much later; the overdue sweep is the backstop. */
const RETRY_MS = 5000;

export interface DeadlineTimersDeps {
  now: Clock;
  log: Logger;
  /**
   * Acts on a due deadline (a session's timed ending, a pairing request's next
   * batch). Returns the next deadline when there is still one to time (the
   * session was paid or extended, maybe by another process), or null.
   */
  onDue(id: string): Promise<Date | null>;
}

/**
 * One in-process timer per id (an open session's payment deadline or expiry,
 * a pairing request's next batch). The timers are a promptness device, not
 * the truth: firing re-reads Postgres and applies a conditional transition,
 * so a timer that fires on several processes, late, or after a change
 * changes nothing it should not. Timers are restored at start, and a sweep
 * catches what a dead process's timers would have. They are unref'd: they
 * never keep a stopping process alive.
 */
export class DeadlineTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly d: DeadlineTimersDeps) {}

  /** Sets (or moves) the timer of `id` to fire at `at`. */
  schedule(id: string, at: Date): void {
    if (this.stopped) return;
    this.clear(id);
    const delay = Math.max(0, at.getTime() - this.d.now().getTime());
    const hop = delay > MAX_DELAY_MS;
    const t = setTimeout(
      () => {
        this.timers.delete(id);
        if (hop) this.schedule(id, at);
        else void this.fire(id);
      },
      Math.min(delay, MAX_DELAY_MS),
    );
    t.unref();
    this.timers.set(id, t);
  }

  clear(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  /** Timers currently set (tests and metrics). */
  get size(): number {
    return this.timers.size;
  }

  has(id: string): boolean {
    return this.timers.has(id);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async fire(id: string): Promise<void> {
    try {
      const next = await this.d.onDue(id);
      // A deadline still in the past here means the ending lost to a change under way: look again shortly, never spin.
      const floor = this.d.now().getTime() + 1000;
      if (next) this.schedule(id, next.getTime() > this.d.now().getTime() ? next : new Date(floor));
    } catch (err) {
      this.d.log.warn({ id, err: (err as Error).message }, "deadline timer failed; retrying");
      this.schedule(id, new Date(this.d.now().getTime() + RETRY_MS));
    }
  }
}
