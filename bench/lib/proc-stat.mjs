import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

let ticksPerSecond = 0;

/**
 * CPU time (user + system, all threads, µs) of another process, from
 * /proc/<pid>/stat: the kernel's counter that process.cpuUsage() and
 * prom-client's process_cpu_seconds_total read from inside (getrusage), at
 * clock-tick resolution (10 ms here). Read from outside, so taking it costs
 * the measured process nothing (a /metrics scrape costs the gateway a lot
 * once it holds thousands of sockets: see bench/README.md).
 */
export function processCpuUs(pid) {
  if (!ticksPerSecond) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(f[11]) + Number(f[12])) / ticksPerSecond) * 1e6;
}
