/**
 * Per-socket token bucket (contract §4: 50 frames/s, burst 100), plus the
 * bookkeeping of its consequences: at most one RATE_LIMITED error a second,
 * and a socket whose frames were refused in five consecutive seconds is closed.
 */
export const RATE_PER_SECOND = 50;
export const BURST = 100;
export const ABUSIVE_SECONDS = 5;

export interface TokenBucket {
  tokens: number;
  /** ms timestamp of the last refill. */
  at: number;
  /** Whole second (epoch s) of the last RATE_LIMITED error sent. */
  lastErrorSecond: number;
  /** Consecutive seconds with at least one refused frame, and the last such second. */
  refusedStreak: number;
  lastRefusedSecond: number;
}

export const newBucket = (nowMs: number): TokenBucket => ({
  tokens: BURST,
  at: nowMs,
  lastErrorSecond: 0,
  refusedStreak: 0,
  lastRefusedSecond: 0,
});

export type Admission = "ok" | "refused-tell" | "refused-quiet" | "close";

/** Takes one token for a frame; says whether to handle it, answer RATE_LIMITED, stay quiet, or close (4008). */
export function admit(b: TokenBucket, nowMs: number): Admission {
  b.tokens = Math.min(BURST, b.tokens + ((nowMs - b.at) / 1000) * RATE_PER_SECOND);
  b.at = nowMs;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return "ok";
  }
  const second = Math.floor(nowMs / 1000);
  if (second !== b.lastRefusedSecond) {
    b.refusedStreak = second === b.lastRefusedSecond + 1 ? b.refusedStreak + 1 : 1;
    b.lastRefusedSecond = second;
  }
  if (b.refusedStreak >= ABUSIVE_SECONDS) return "close";
  if (second !== b.lastErrorSecond) {
    b.lastErrorSecond = second;
    return "refused-tell";
  }
  return "refused-quiet";
}
