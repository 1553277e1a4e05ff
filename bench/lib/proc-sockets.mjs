import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * How many established TCP connections on local port `port` each process
 * holds, read from outside (/proc/net/tcp{,6} for the connections' inodes,
 * /proc/<pid>/fd for who owns them): the kernel's SO_REUSEPORT spread over
 * workers that share a port, without asking the workers anything.
 * Returns one count per pid, in the order given (0 for a process that is gone).
 */
export function establishedPerProcess(pids, port) {
  const inodes = new Set();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "01") continue; // 01: ESTABLISHED
      if (Number.parseInt(f[1].slice(f[1].lastIndexOf(":") + 1), 16) === port) inodes.add(f[9]);
    }
  }
  return pids.map((pid) => {
    let n = 0;
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      return 0;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) n++;
      } catch {
        // closed while we looked
      }
    }
    return n;
  });
}

/** Pids of the direct children of `pid` (/proc/<pid>/task/<tid>/children). */
export function childPids(pid) {
  const out = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) out.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // gone
  }
  return out;
}

/** Every descendant of `pid` (children, their children, …). */
export function descendantPids(pid) {
  const out = [];
  const queue = childPids(pid);
  while (queue.length > 0) {
    const p = queue.shift();
    out.push(p);
    queue.push(...childPids(p));
  }
  return out;
}
