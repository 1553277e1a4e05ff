import type { Clock } from "../clock.js";
import type { Logger } from "../log.js";
import { tracePeriodic } from "../periodic-trace.js";
import type { DashboardCounts } from "./dashboard-counts.js";

export type CountsPoint = DashboardCounts & { at: string };

/** One sample every 10 s, kept for an hour: the seed of the control center's live chart. */
const EVERY_MS = 10_000;
const KEEP_MS = 3_600_000;

/**
 * The last hour of dashboard counts, sampled by this process, so a reloaded
 * page starts its chart full (GET /internal/dashboard/history) and the live
 * `dashboard.counts` frames carry it on. Each process keeps its own; the
 * counts are shared state, so every process samples the same numbers.
 */
export class DashboardHistory {
  private points: CountsPoint[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sample: () => Promise<DashboardCounts>,
    private readonly now: Clock,
    private readonly log: Logger,
  ) {}

  start(): void {
    void this.take();
    this.timer = setInterval(() => void this.take(), EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Oldest first. */
  get(): CountsPoint[] {
    const since = this.now().getTime() - KEEP_MS;
    return this.points.filter((p) => Date.parse(p.at) >= since);
  }

  private async take(): Promise<void> {
    try {
      const counts = await tracePeriodic("dashboard_history", this.sample);
      const at = this.now();
      this.points.push({ at: at.toISOString(), ...counts });
      const since = at.getTime() - KEEP_MS;
      while (this.points.length > 0 && Date.parse((this.points[0] as CountsPoint).at) < since)
        this.points.shift();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "dashboard history sample failed");
    }
  }
}
