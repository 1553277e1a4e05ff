export interface BackoffOptions {
  /** The first retry waits up to this long (default 500 ms). */
  initialMs?: number;
  /** No wait is longer (default 30 s). */
  maxMs?: number;
  /** A connection that stayed up this long resets the backoff (default 5 s). */
  stableAfterMs?: number;
}

/**
 * Exponential backoff with full jitter: the n-th retry waits a uniformly
 * random time in [0, min(max, initial × 2ⁿ)]. After a deploy restarts the
 * gateway, thousands of clients come back spread over the window instead of
 * in one wave.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly stableAfterMs: number;
  private attempt = 0;

  constructor(
    opts: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.initialMs = opts.initialMs ?? 500;
    this.maxMs = opts.maxMs ?? 30_000;
    this.stableAfterMs = opts.stableAfterMs ?? 5_000;
  }

  /** The wait before the next attempt; each call widens the window. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  /** Failures in a row so far. */
  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
