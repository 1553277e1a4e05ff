import { FAULT_STALE_SECONDS } from "./deployment.js";
import type { SteadyLoad } from "./steady-load.js";

/**
 * Samples the control center's online count (`GET /internal/dashboard/counts`)
 * every 250 ms and compares it with the mitras that should be online at that
 * moment: every mitra of the load not being deactivated whose last
 * acknowledged heartbeat is younger than the stale threshold. The lowest
 * difference is the run's margin: below zero, mitras that kept heartbeating
 * were shown offline (a mass offline).
 */
export class OnlineWatch {
  margin = Number.POSITIVE_INFINITY;
  samples = 0;
  /** Samples the route could not answer (e.g. Postgres down: the counts need it). */
  unanswered = 0;
  lowest: { at: string; online: number; expected: number } | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly internalUrl: () => string,
    private readonly ccToken: string,
    private readonly load: SteadyLoad,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), 250);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async sample(): Promise<void> {
    const now = Date.now();
    // Fresh as of the question: a mitra that goes stale while the answer travels still counts as online.
    const fresh = this.load.mitras.filter((m) => now - m.lastAckAt < FAULT_STALE_SECONDS * 1000);
    try {
      const res = await fetch(`${this.internalUrl()}/internal/dashboard/counts`, {
        headers: { authorization: `Bearer ${this.ccToken}` },
        signal: AbortSignal.timeout(2000),
      });
      if (res.status !== 200) {
        this.unanswered++;
        return;
      }
      const { online } = (await res.json()) as { online: number };
      // Active as of the answer: a deactivation asked while the read was in flight (a read held up
      // by a failover can take seconds) may already be in the count the gateway gives, so that
      // mitra is not owed a place in it.
      const expected = fresh.filter((m) => m.deactivationAskedAt === null).length;
      this.samples++;
      if (online - expected < this.margin) {
        this.margin = online - expected;
        this.lowest = { at: new Date(now).toISOString(), online, expected };
      }
    } catch {
      this.unanswered++;
    }
  }
}
