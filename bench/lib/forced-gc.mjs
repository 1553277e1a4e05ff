import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Memory readings of a server after a forced full GC, without a GC endpoint
 * in the service: the server runs with GC_ARGS (node flags, before its
 * script), lib/preload-gc.cjs answers SIGUSR2 with a GC and a JSON line on
 * stdout, and `forcedGc().onLine` must see the server's stdout JSON lines
 * (startChild's onLine).
 */
export const GC_ARGS = ["--expose-gc", "-r", fileURLToPath(new URL("./preload-gc.cjs", import.meta.url))];

const SETTLE_GAP_MS = 500;
const SETTLE_READS = 10;
/** Two readings 500 ms apart within this of each other: RSS has settled (pages freed by the GC are returned). */
const SETTLED_BYTES = 256 * 1024;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resident set size of process `pid` (VmRSS of /proc/<pid>/status: what prom-client reports), bytes. */
export function rssOf(pid) {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export function forcedGc() {
  const waiters = [];
  return {
    /** Takes the preload's report lines; returns true for those (the caller passes other lines on). */
    onLine(j) {
      if (!j.forcedGc) return false;
      waiters.shift()?.(j.forcedGc);
      return true;
    },
    /**
     * Signals `pid`, waits for its report, then reads its RSS every 500 ms until
     * two readings agree (at most 10). Returns the heap figures before and after
     * the GC (process.memoryUsage() inside the server) and the settled RSS.
     */
    async read(pid, timeoutMs = 10_000) {
      const report = new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no forced-GC report from pid ${pid}`)), timeoutMs);
        waiters.push((r) => {
          clearTimeout(timer);
          resolve(r);
        });
      });
      process.kill(pid, "SIGUSR2");
      const { before, after } = await report;
      let rss = rssOf(pid);
      const reads = [rss];
      for (let i = 1; i < SETTLE_READS; i++) {
        await sleep(SETTLE_GAP_MS);
        const next = rssOf(pid);
        reads.push(next);
        const settled = Math.abs(next - rss) <= SETTLED_BYTES;
        rss = next;
        if (settled) break;
      }
      return { before, after, rssBytes: rss, rssReads: reads };
    },
  };
}
