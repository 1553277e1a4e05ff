/**
 * Preloaded into a server under test (`node --expose-gc -r bench/lib/preload-gc.cjs …`,
 * see lib/forced-gc.mjs): on SIGUSR2 it reads process.memoryUsage(), runs two
 * full GCs (the second after a short wait, so finalizers and weak callbacks
 * the first one queued have run and their memory is freed too), reads it
 * again and prints one JSON line {"forcedGc":{before,after}} on stdout. The
 * bench's memory figures then do not depend on whether a GC happened to run
 * before the reading. Nothing is added to the service itself (no endpoint);
 * the signal reaches only a process started with this preload.
 */
"use strict";

const WAIT_MS = 200;

if (typeof global.gc !== "function") throw new Error("preload-gc.cjs needs node --expose-gc");

const v8 = require("node:v8");

/**
 * `newSpace`: the young generation's committed bytes. V8 grows it (up to 2 ×
 * 16 MiB semi-spaces) under allocation and a forced GC does not shrink it:
 * a per-process step, not a per-socket cost. Whether it grew before or after
 * the "before" reading moved RSS per socket by 1.7 KiB at 19,700 sockets
 * (bench/README.md, ws-100k).
 */
const usage = () => {
  const m = process.memoryUsage();
  return {
    newSpace: v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0,
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  };
};

process.on("SIGUSR2", () => {
  const before = usage();
  global.gc();
  setTimeout(() => {
    global.gc();
    // Synchronous on a Linux pipe (and one line well under PIPE_BUF): never interleaved with a log line.
    process.stdout.write(`${JSON.stringify({ forcedGc: { before, after: usage() } })}\n`);
  }, WAIT_MS);
});
