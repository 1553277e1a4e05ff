import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { nodeCommand } from "./child-service.mjs";

const CLIENT_JS = fileURLToPath(new URL("./frame-client.mjs", import.meta.url));

/** Now, in ms on CLOCK_MONOTONIC: the clock lib/frame-client.mjs stamps frames with (shared by all processes). */
export const hrNow = () => Number(process.hrtime.bigint() / 1000n) / 1000;

/**
 * Starts client process k (lib/frame-client.mjs) with its open-files limit
 * raised to `fdLimit`, on loopback source address 127.0.0.<2 + k>. `call`
 * sends a command and resolves with its reply (rejects on an error reply or
 * if the process exits); `onEvent` gets the unsolicited frame events. Killed
 * by its own pid (`kill`).
 */
export function startFrameClient(k, { fdLimit, env, onEvent = () => {} }) {
  const [command, argv] = nodeCommand([CLIENT_JS], fdLimit);
  const child = spawn(command, argv, { env, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map();
  let rid = 0;
  let exited = null;
  let markReady;
  const ready = new Promise((resolve, reject) => {
    markReady = resolve;
    child.once("exit", (code, signal) => reject(new Error(`client ${k} exited (${code ?? signal})`)));
  });
  child.on("message", (m) => {
    if (m.event === "ready") return markReady();
    if (m.event) return onEvent(k, m);
    const w = waiting.get(m.rid);
    if (!w) return;
    waiting.delete(m.rid);
    if (m.error) w.reject(new Error(`client ${k}: ${m.error}`));
    else w.resolve(m);
  });
  child.once("exit", (code, signal) => {
    exited = `client ${k} exited (${code ?? signal})`;
    for (const w of waiting.values()) w.reject(new Error(exited));
    waiting.clear();
  });
  return {
    k,
    pid: child.pid,
    localAddress: `127.0.0.${2 + k}`,
    ready,
    call(msg) {
      if (exited) return Promise.reject(new Error(exited));
      const id = ++rid;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        child.send({ ...msg, rid: id }, (err) => {
          if (err && waiting.delete(id)) reject(err);
        });
      });
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}
