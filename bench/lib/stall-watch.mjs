/**
 * Preloaded into a server under test (`node --import bench/lib/stall-watch.mjs
 * dist/main.js`, ws-bench with BENCH_WS_STALLS=1): prints one JSON line on
 * stdout for every event-loop stall of STALL_MS or more (a 2 ms interval timer
 * that fired late) and for every GC pause of GC_MS or more, with wall-clock
 * times, so the bench can lay them over its ack latencies and say where a bad
 * p99 came from. Costs ~500 timer wake-ups a second (a few µs each): not for
 * CPU figures.
 *
 * Also one line per run of the gateway's periodic work (src/periodic-trace.ts:
 * sweeps, dashboard history, /metrics), `{stall:"job", job, at, ms}`, so a
 * stall can be laid over the job that ran across it.
 */
import { subscribe } from "node:diagnostics_channel";
import { openSync, readSync } from "node:fs";
import { PerformanceObserver, performance } from "node:perf_hooks";

const TICK_MS = 2;
const STALL_MS = Number(process.env.STALL_WATCH_MS ?? 4);
const GC_MS = 1;
const KINDS = { 1: "scavenge", 2: "mark-compact", 4: "incremental", 8: "weak-callbacks" };
const wall = (t) => Math.round((performance.timeOrigin + t) * 10) / 10;
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    if (e.duration >= GC_MS)
      emit({
        stall: "gc",
        kind: KINDS[e.detail?.kind] ?? String(e.detail?.kind),
        at: wall(e.startTime),
        ms: e.duration,
      });
}).observe({ entryTypes: ["gc"] });

subscribe("halo:periodic", (m) => emit({ stall: "job", job: m.job, at: wall(m.start), ms: m.end - m.start }));

/**
 * The loop thread's own scheduler figures (ms): time on a CPU, and time runnable but waiting for one
 * (the kernel's run queue: the machine's other load had the cores), from /proc/thread-self/schedstat
 * opened once here, on the loop thread, and re-read in place (one pread per tick). undefined where
 * there is none. Reading it by path (open, read, close) and process.cpuUsage() every tick cost the
 * watched process ~100 µs per tick, a fifth of the gateway's CPU in a soak profile: the watcher
 * must not be what it measures.
 */
const schedFd = (() => {
  try {
    return openSync("/proc/thread-self/schedstat", "r");
  } catch {
    return -1;
  }
})();
const schedBuf = Buffer.alloc(128);
function threadSched() {
  if (schedFd < 0) return undefined;
  try {
    const n = readSync(schedFd, schedBuf, 0, schedBuf.length, 0);
    const [run, wait] = schedBuf.toString("latin1", 0, n).split(" ");
    return { runMs: Number(run) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return undefined;
  }
}

/** CPU time (ms) behind `cpuMs`: the loop thread's own where schedstat exists, else the process's (all threads). */
const cpuNowMs = () => {
  const sched = threadSched();
  if (sched) return sched;
  const u = process.cpuUsage();
  return { runMs: (u.user + u.system) / 1000 };
};

// `cpuMs`: CPU time across the stall (the loop thread's; the process's without schedstat). Near `ms`:
// our own work blocked the loop; near 0: it was not running at all (the machine's other load took the
// core). `runMs`/`waitMs`: the loop thread alone, on a CPU / waiting in the run queue across the stall.
let last = performance.now();
let lastSched = cpuNowMs();
setInterval(() => {
  const now = performance.now();
  const sched = cpuNowMs();
  const late = now - last - TICK_MS;
  if (late >= STALL_MS) {
    const cpuMs = sched.runMs - lastSched.runMs;
    const thread =
      sched.waitMs !== undefined ? { runMs: cpuMs, waitMs: sched.waitMs - lastSched.waitMs } : {};
    emit({ stall: "loop", at: wall(now - late), ms: late, cpuMs, ...thread });
  }
  last = now;
  lastSched = sched;
}, TICK_MS).unref();
