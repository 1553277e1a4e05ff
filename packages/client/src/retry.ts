import { HaloError } from "./errors.js";

export interface RetryOptions {
  /** Give up after this long (ms from the first try); the last error is thrown. */
  withinMs: number;
  /** Default: HaloError.retryable. */
  retryable?: (err: unknown) => boolean;
  /** Stop early (e.g. the caller was closed). */
  cancelled?: () => boolean;
  now?: () => number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * How long to wait before retrying after `err`: the server's Retry-After if it
 * gave one (plus up to as much again of jitter, so clients told the same
 * thing at the same moment do not come back in step), else backoff with
 * jitter.
 */
export function retryDelay(err: unknown, attempt: number): number {
  if (err instanceof HaloError && err.retryAfterSeconds !== undefined) {
    const ms = err.retryAfterSeconds * 1000;
    return Math.floor(ms + Math.random() * ms);
  }
  return Math.floor(Math.random() * Math.min(5000, 250 * 2 ** attempt));
}

/**
 * Runs `fn` until it succeeds, fails for good, or time runs out. Only for
 * calls that are safe to repeat: an idempotency key, a clientMsgId, a read.
 */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const retryable = opts.retryable ?? ((e: unknown) => e instanceof HaloError && e.retryable);
  const until = now() + opts.withinMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const delay = retryDelay(err, attempt);
      if (!retryable(err) || opts.cancelled?.() || now() + delay > until) throw err;
      await sleep(delay);
    }
  }
}
