import { readdirSync, readFileSync } from "node:fs";

const TICK_US = 10_000; // USER_HZ is 100 on Linux

/**
 * CPU time (user + system, µs) of every process whose command name is
 * `comm` (e.g. "postgres": the postmaster, every backend, the WAL writer,
 * the checkpointer; "redis-server"), by pid, from /proc/<pid>/stat.
 */
export function cpuByPid(comm) {
  const out = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    if (stat.slice(open + 1, close) !== comm) continue;
    const f = stat.slice(close + 2).split(" ");
    out.set(name, (Number(f[11]) + Number(f[12])) * TICK_US);
  }
  return out;
}

/**
 * CPU spent between two cpuByPid readings: the growth of every process in
 * both, plus all of those started in between; a process that exited in
 * between is lost (short-lived backends of other databases, mostly).
 */
export function cpuSpent(before, after) {
  let us = 0;
  for (const [pid, b] of after) us += b - (before.get(pid) ?? 0);
  return us;
}
