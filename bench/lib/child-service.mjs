import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * `[command, args]` that run `node …args` with the open-files limit raised to
 * `fdLimit` (or to the hard limit, if that is lower): `ulimit -n` in a shell
 * that then execs node, so the pid is node's own. Without `fdLimit`, node
 * directly.
 */
/** The environment every service starts from: only what it needs, nothing from the caller's shell leaks into its configuration. */
export const BASE_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };

export function nodeCommand(args, fdLimit) {
  if (!fdLimit) return [process.execPath, args];
  const script = `ulimit -n ${Number(fdLimit)} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
  return ["/bin/sh", ["-c", script, process.execPath, ...args]];
}

/** The open-files limit a running process has (from /proc/<pid>/limits), or NaN. */
export function openFilesLimit(pid) {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"));
    return m ? (m[1] === "unlimited" ? Number.POSITIVE_INFINITY : Number(m[1])) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts a service as a child process and resolves once it prints a JSON
 * line that `isReady` accepts (the gateway's pino "listening" line, or a
 * baseline's {"listening":…}). Every later JSON line goes to `onLine`.
 * `args` are node's (flags, then the script); `fdLimit` raises the child's
 * open-files limit (see nodeCommand). The child is stopped by its own pid,
 * never by name.
 */
export function startChild({ name, args, env, isReady, onLine = () => {}, timeoutMs = 60_000, fdLimit }) {
  const [command, argv] = nodeCommand(args, fdLimit);
  const child = spawn(command, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  let tail = "";
  let pending = "";
  const remember = (s) => {
    tail = (tail + s).slice(-8000);
  };
  child.stderr.on("data", (d) => remember(d.toString()));

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${name} did not start within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const fail = (err) => {
      clearTimeout(timer);
      reject(new Error(`${err.message}\n--- ${name} output ---\n${tail}`));
    };
    let started = false;
    child.stdout.on("data", (d) => {
      const s = d.toString();
      remember(s);
      pending += s;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        let json;
        try {
          json = JSON.parse(line);
        } catch {
          continue;
        }
        if (!started && isReady(json)) {
          started = true;
          clearTimeout(timer);
          resolve(json);
        } else {
          onLine(json);
        }
      }
    });
    child.once("exit", (code, signal) => {
      if (!started) fail(new Error(`${name} exited (${code ?? signal}) before it was ready`));
    });
    child.once("error", fail);
  });

  return {
    child,
    ready,
    output: () => tail,
    /** SIGTERM (or the given signal), then SIGKILL after graceMs; resolves on exit. */
    stop(signal = "SIGTERM", graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      return new Promise((resolve) => {
        const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
        child.once("exit", () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill(signal);
      });
    },
  };
}
