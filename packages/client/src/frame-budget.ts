/**
 * A token bucket the socket spends one token per frame from. The gateway
 * allows 50 frames/s with bursts of 100 per socket and closes 4008 a socket
 * that stays over it (contract §4); staying under it here turns a burst of
 * sends into a short queue instead of RATE_LIMITED errors and a reconnect.
 */
export class FrameBudget {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Takes a token if there is one; otherwise the ms until there will be. */
  take(): number {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
  }
}
