import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";

/** setTimeout's longest delay (2^31 − 1 ms, about 24.8 days); a later deadline is reached in hops. */
const MAX_DELAY_MS = 2_147_483_647;
/** After a failed firing (Postgres down), try again this much later; the overdue sweep is the backstop. */
const RETRY_MS = 5000;

export interface SessionTimersDeps {
  now: Clock;
  log: Logger;
  /**
   * Applies the session's timed ending if it is due. Returns the session's
   * next deadline when it is still open and not yet due (it was paid or
   * extended, maybe by another process), or null when nothing is left to time.
   */
  onDue(sessionId: string): Promise<Date | null>;
}

/**
 * One in-process timer per open session's deadline (payment deadline, then
 * expiry). The timers are a promptness device, not the truth: firing
 * re-reads Postgres and applies a conditional transition, so a timer that
 * fires on several processes, late, or after an extend changes nothing it
 * should not. Every process restores the timers of every open session at
 * start; the overdue sweep catches what a dead process's timers would have.
 * Timers are unref'd: they never keep a stopping process alive.
 */
export class SessionTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly d: SessionTimersDeps) {}

  /** Sets (or moves) the session's timer to fire at `at`. */
  schedule(sessionId: string, at: Date): void {
    if (this.stopped) return;
    this.clear(sessionId);
    const delay = Math.max(0, at.getTime() - this.d.now().getTime());
    const hop = delay > MAX_DELAY_MS;
    const t = setTimeout(
      () => {
        this.timers.delete(sessionId);
        if (hop) this.schedule(sessionId, at);
        else void this.fire(sessionId);
      },
      Math.min(delay, MAX_DELAY_MS),
    );
    t.unref();
    this.timers.set(sessionId, t);
  }

  clear(sessionId: string): void {
    const t = this.timers.get(sessionId);
    if (t) clearTimeout(t);
    this.timers.delete(sessionId);
  }

  /** Timers currently set (tests and metrics). */
  get size(): number {
    return this.timers.size;
  }

  has(sessionId: string): boolean {
    return this.timers.has(sessionId);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private async fire(sessionId: string): Promise<void> {
    try {
      const next = await this.d.onDue(sessionId);
      // A deadline still in the past here means the ending lost to a change under way: look again shortly, never spin.
      const floor = this.d.now().getTime() + 1000;
      if (next) this.schedule(sessionId, next.getTime() > this.d.now().getTime() ? next : new Date(floor));
    } catch (err) {
      this.d.log.warn({ sessionId, err: (err as Error).message }, "session timer failed; retrying");
      this.schedule(sessionId, new Date(this.d.now().getTime() + RETRY_MS));
    }
  }
}
