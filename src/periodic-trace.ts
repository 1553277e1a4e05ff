import { channel } from "node:diagnostics_channel";

/**
 * Periodic work (sweeps, the dashboard history sample, /metrics) announces
 * each run on this diagnostics channel, so a bench's preloaded watcher
 * (bench/lib/stall-watch.mjs) can say which job an event-loop stall fell in.
 * Nothing subscribes in production: then a run costs one boolean check.
 */
const periodic = channel("halo:periodic");

export async function tracePeriodic<T>(job: string, run: () => Promise<T>): Promise<T> {
  if (!periodic.hasSubscribers) return run();
  const start = performance.now();
  try {
    return await run();
  } finally {
    periodic.publish({ job, start, end: performance.now() });
  }
}
