import type { Logger } from "../log.js";
import type { BeaconSnapshot } from "../mirror/beacon.js";
import { dashboardCounts } from "../mirror/dashboard-counts.js";
import type { Services } from "../services.js";
import type { SocketHub, Ws } from "./socket-hub.js";

/**
 * Pushes `availability` to customers and `dashboard.counts` to operators, on
 * change, at most once a second per process. Both read shared state (the
 * beacon snapshot, the counts), so every process pushes the same numbers.
 * They go out latest-only: a slow reader gets the newest, never a queue.
 */
export class Broadcasts {
  private timer: NodeJS.Timeout | undefined;
  private lastAvailability = "";
  private lastCounts = "";
  private running = false;

  constructor(
    private readonly s: Services,
    private readonly hub: SocketHub,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.push(), 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Right after hello: a customer gets the current availability, an operator the current counts. */
  async greet(ws: Ws): Promise<void> {
    const type = ws.getUserData().userType;
    try {
      if (type === "customer") {
        const a = availabilityOf(await this.s.avail.beacon.current());
        this.hub.sendLatest(ws, "availability", a.frame, a.version);
      }
      if (type === "cc") this.hub.sendLatest(ws, "dashboard.counts", await this.countsFrame());
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not greet a socket with current figures");
    }
  }

  private async push(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      if (this.hub.countOf("customer") > 0) {
        const a = availabilityOf(await this.s.avail.beacon.current());
        if (a.version !== this.lastAvailability) {
          this.lastAvailability = a.version;
          this.hub.broadcastLatest("customer", "availability", a.frame, a.version);
        }
      }
      if (this.hub.countOf("cc") > 0) {
        const frame = await this.countsFrame();
        if (frame !== this.lastCounts) {
          this.lastCounts = frame;
          this.hub.broadcastLatest("cc", "dashboard.counts", frame);
        }
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "broadcast failed; next second tries again");
    } finally {
      this.running = false;
    }
  }

  private async countsFrame(): Promise<string> {
    return JSON.stringify({
      type: "dashboard.counts",
      ...(await dashboardCounts(this.s.avail.availability, this.s.pool)),
    });
  }
}

/**
 * The `availability` frame of a beacon snapshot and its version, what "on
 * change" compares: the count, not the snapshot's age (asOf moves every 10 s by itself).
 */
const availabilityOf = (snap: BeaconSnapshot): { frame: string; version: string } => ({
  frame: JSON.stringify({ type: "availability", ...snap }),
  version: String(snap.available),
});
