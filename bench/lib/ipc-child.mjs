import { spawn } from "node:child_process";
import { BASE_ENV, nodeCommand } from "./child-service.mjs";

/**
 * Starts client process k (`script`, e.g. lib/ws-client.mjs or
 * soak/soak-client.mjs) that answers each IPC command with exactly one
 * message, in order, after a first `ready` message. Its loopback source
 * address is 127.0.0.<2 + k>, so several clients never compete for one
 * ephemeral port range. `call` rejects on a `{type:"error"}` reply or when
 * the process exits; `kill` stops it by its own pid. `nice` > 0 runs it at
 * that niceness (`nice -n`), below the server it loads.
 */
export function startIpcChild(script, k, { fdLimit, env = BASE_ENV, nice = 0 } = {}) {
  const [node, nodeArgv] = nodeCommand([script], fdLimit);
  const [command, argv] = nice > 0 ? ["nice", ["-n", String(nice), node, ...nodeArgv]] : [node, nodeArgv];
  const child = spawn(command, argv, { env, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiters = [];
  let exited = null;
  child.on("message", (m) => waiters.shift()?.resolve(m));
  child.on("error", (err) => {
    for (const w of waiters.splice(0)) w.reject(err);
  });
  child.once("exit", (code, signal) => {
    exited = `client ${k} exited (${code ?? signal})`;
    for (const w of waiters.splice(0)) w.reject(new Error(exited));
  });
  const next = () =>
    new Promise((resolve, reject) =>
      exited ? reject(new Error(exited)) : waiters.push({ resolve, reject }),
    );
  return {
    k,
    pid: child.pid,
    localAddress: `127.0.0.${2 + k}`,
    ready: next(),
    async call(msg) {
      const reply = next();
      if (!exited) child.send(msg, (err) => err && waiters.shift()?.reject(err));
      const r = await reply;
      if (r.type === "error") throw new Error(`client ${k}: ${r.message}`);
      return r;
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
