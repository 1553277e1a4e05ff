import { readFileSync } from "node:fs";
import { processCpuUs } from "./proc-stat.mjs";

const TICK_US = 10_000; // USER_HZ is 100 on Linux: /proc/stat counts in 1/100 s

/** The machine's CPU counters (all cores, /proc/stat); busyShare(a, b) is the busy share between two readings. */
export function cpuTimes() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}

export const busyShare = (a, b) =>
  b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : Number.NaN;

/**
 * Share of the machine's CPU time (all cores) over `ms` that was busy with
 * anything but the processes in `pids` (the bench's own servers and clients,
 * which stay up between runs and would otherwise always read as "busy").
 * Postgres's and Valkey's work for those processes still counts as others'.
 */
export async function othersBusy(pids, ms) {
  const ours = () => pids.reduce((n, pid) => n + safeCpu(pid), 0);
  const a = cpuTimes();
  const o0 = ours();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  const o1 = ours();
  const totalUs = (b.total - a.total) * TICK_US;
  if (totalUs <= 0) return 0;
  const busyUs = (b.total - a.total - (b.idle - a.idle)) * TICK_US;
  return Math.max(0, (busyUs - (o1 - o0)) / totalUs);
}

function safeCpu(pid) {
  try {
    return processCpuUs(pid);
  } catch {
    return 0;
  }
}

/** Waits (up to `maxWaitMs`) until a 1 s sample of othersBusy is under `threshold`; returns the last sample. */
export async function waitForQuietExcept(pids, threshold, maxWaitMs) {
  const until = Date.now() + maxWaitMs;
  for (;;) {
    const busy = await othersBusy(pids, 1000);
    if (busy < threshold || Date.now() >= until) return busy;
  }
}
