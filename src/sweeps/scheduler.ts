import { type ScheduledTask, schedule } from "node-cron";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { tracePeriodic } from "../periodic-trace.js";
import type { SweepOutcome } from "./auto-offline.js";
import { cronExpression } from "./cadence.js";

export interface Sweep {
  name: string;
  cadenceSeconds: number;
  run(): Promise<SweepOutcome>;
}

/**
 * Runs each sweep on its node-cron cadence, never two runs of one sweep at
 * once in this process (the advisory lock inside each sweep handles other
 * processes). Every run's outcome and duration go to /metrics.
 */
export class SweepScheduler {
  private readonly tasks: ScheduledTask[] = [];
  private readonly running = new Map<string, Promise<SweepOutcome | undefined>>();
  private readonly queued = new Map<string, Promise<SweepOutcome | undefined>>();

  constructor(
    private readonly sweeps: readonly Sweep[],
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  start(): void {
    for (const sweep of this.sweeps) {
      this.tasks.push(schedule(cronExpression(sweep.cadenceSeconds), () => void this.runNow(sweep.name)));
    }
  }

  /**
   * Runs one sweep now (also at start and on Valkey reconnect). A run always
   * starts after the call: if one is under way, one more follows it (callers
   * that arrive meanwhile share that follow-up), so what changed before the
   * call is covered.
   */
  runNow(name: string): Promise<SweepOutcome | undefined> {
    const sweep = this.sweeps.find((s) => s.name === name);
    if (!sweep) throw new Error(`unknown sweep ${name}`);
    const queued = this.queued.get(name);
    if (queued) return queued;
    const current = this.running.get(name);
    const start = (): Promise<SweepOutcome | undefined> => {
      this.queued.delete(name);
      const run = this.execute(sweep).finally(() => {
        if (this.running.get(name) === run) this.running.delete(name);
      });
      this.running.set(name, run);
      return run;
    };
    if (!current) return start();
    const next = current.then(start, start);
    this.queued.set(name, next);
    return next;
  }

  async stop(): Promise<void> {
    for (const t of this.tasks) await t.stop();
    await Promise.allSettled([...this.running.values(), ...this.queued.values()]);
  }

  private async execute(sweep: Sweep): Promise<SweepOutcome | undefined> {
    const end = this.metrics.sweepDuration.startTimer({ sweep: sweep.name });
    try {
      const result = await tracePeriodic(sweep.name, () => sweep.run());
      this.metrics.sweepRuns.inc({ sweep: sweep.name, outcome: result.outcome });
      if (result.outcome === "done" && result.changed > 0) {
        this.log.info({ sweep: sweep.name, changed: result.changed }, "sweep done");
      }
      return result;
    } catch (err) {
      // auto-offline aborts on a Valkey error by throwing: counted as aborted, retried next cadence.
      this.metrics.sweepRuns.inc({ sweep: sweep.name, outcome: "aborted" });
      this.log.warn({ sweep: sweep.name, err: (err as Error).message }, "sweep aborted");
      return undefined;
    } finally {
      end();
    }
  }
}
