import { readFileSync } from "node:fs";

/**
 * Share of the machine's CPU time that was busy (all cores) over `ms`, from
 * /proc/stat. Taken while the bench's own services are idle, it shows other
 * work on the machine (a test suite, a build) that would skew every figure.
 */
export async function machineBusy(ms) {
  const read = () => {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

/** Waits (up to `maxWaitMs`) until a 1 s sample is under `threshold`; returns the last sample. */
export async function waitForQuiet(threshold, maxWaitMs) {
  const until = Date.now() + maxWaitMs;
  for (;;) {
    const busy = await machineBusy(1000);
    if (busy < threshold || Date.now() >= until) return busy;
  }
}
