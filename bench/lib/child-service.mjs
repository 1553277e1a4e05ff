import { spawn } from "node:child_process";

/**
 * Starts a service as a child process and resolves once it prints a JSON
 * line that `isReady` accepts (the gateway's pino "listening" line, or a
 * baseline's {"listening":…}). Every later JSON line goes to `onLine`.
 * The child is stopped by its own pid, never by name.
 */
export function startChild({ name, args, env, isReady, onLine = () => {}, timeoutMs = 60_000 }) {
  const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
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
