/**
 * Preloaded into a server under test (`node --import bench/lib/stall-watch.mjs
 * dist/main.js`, ws-bench with BENCH_WS_STALLS=1): prints one JSON line on
 * stdout for every event-loop stall of STALL_MS or more (a 2 ms interval timer
 * that fired late) and for every GC pause of GC_MS or more, with wall-clock
 * times, so the bench can lay them over its ack latencies and say where a bad
 * p99 came from. Costs ~500 timer wake-ups a second: not for CPU figures.
 *
 * Also one line per run of the gateway's periodic work (src/periodic-trace.ts:
 * sweeps, dashboard history, /metrics), `{stall:"job", job, at, ms}`, so a
 * stall can be laid over the job that ran across it.
 */
import { subscribe } from "node:diagnostics_channel";
import { readFileSync } from "node:fs";
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
 * (the kernel's run queue: the machine's other load had the cores). From /proc/thread-self/schedstat;
 * undefined where there is none.
 */
function threadSched() {
  try {
    const [run, wait] = readFileSync("/proc/thread-self/schedstat", "utf8").split(" ");
    return { runMs: Number(run) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return undefined;
  }
}

// `cpuMs`: the process's own CPU time (all threads) across the stall. Near `ms`: our own work blocked the
// loop; near 0: the process was not running at all (the machine's other load took the core).
// `runMs`/`waitMs`: the loop thread alone, on a CPU / waiting in the run queue across the stall.
let last = performance.now();
let lastCpu = process.cpuUsage();
let lastSched = threadSched();
setInterval(() => {
  const now = performance.now();
  const cpu = process.cpuUsage();
  const sched = threadSched();
  const late = now - last - TICK_MS;
  const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
  if (late >= STALL_MS) {
    const thread =
      sched && lastSched
        ? { runMs: sched.runMs - lastSched.runMs, waitMs: sched.waitMs - lastSched.waitMs }
        : {};
    emit({ stall: "loop", at: wall(now - late), ms: late, cpuMs, ...thread });
  }
  last = now;
  lastCpu = cpu;
  lastSched = sched;
}, TICK_MS).unref();
