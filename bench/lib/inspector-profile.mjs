import WebSocket from "ws";

/**
 * CPU profile of another node process over exactly one stretch of time,
 * through its inspector (the process runs with `--inspect=127.0.0.1:0`;
 * `debuggerUrl` is the ws://… it printed on stderr). Profiler.start, then
 * `during()`, then Profiler.stop: the profile covers nothing else (unlike
 * --cpu-prof, which covers start-up to exit).
 */
export async function profileDuring(debuggerUrl, during, { samplingIntervalUs = 500 } = {}) {
  const ws = new WebSocket(debuggerUrl, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let seq = 0;
  const waiting = new Map();
  ws.on("message", (data) => {
    const m = JSON.parse(data.toString());
    const w = waiting.get(m.id);
    if (!w) return;
    waiting.delete(m.id);
    if (m.error) w.reject(new Error(`${w.method}: ${m.error.message}`));
    else w.resolve(m.result);
  });
  const call = (method, params = {}) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      waiting.set(id, { resolve, reject, method });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call("Profiler.enable");
    await call("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
    await call("Profiler.start");
    const result = await during();
    const { profile } = await call("Profiler.stop");
    await call("Profiler.disable");
    return { profile, result };
  } finally {
    ws.close();
  }
}

/** The inspector's ws:// URL from a process's stderr ("Debugger listening on ws://…"). */
export function debuggerUrlOf(output) {
  return /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1];
}
