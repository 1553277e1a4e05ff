import type { Logger } from "../log.js";

/** setTimeout's limit; a later deadline is reached in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * One in-process timer per id, firing `fire(id)` at a deadline. Timers are
 * an optimisation of this process: the state and deadline live in Postgres,
 * and a sweep fires what a dead process's timers would have.
 */
export class DeadlineTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly fire: (id: string) => Promise<void>,
    private readonly log: Logger,
  ) {}

  set(id: string, at: Date): void {
    this.clear(id);
    const delay = Math.max(0, Math.min(at.getTime() - Date.now(), MAX_DELAY_MS));
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.fire(id).catch((err: unknown) =>
        this.log.warn({ err: (err as Error).message, id }, "a deadline timer failed; the sweep retries"),
      );
    }, delay);
    timer.unref();
    this.timers.set(id, timer);
  }

  clear(id: string): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
  }

  clearAll(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
