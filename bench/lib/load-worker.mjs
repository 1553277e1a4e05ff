/**
 * Client load, in a worker thread so it never shares the server's event loop
 * (the server is another process; this keeps the bench's own orchestration
 * and scrapes off the load's loop too). One worker per window:
 *
 *   main → new Worker(cfg)  ·  worker → {ready}  ·  main scrapes, → {go}
 *   worker → {window}  (figures for requests answered inside the window)
 *   worker → {done}    (after the requests still in flight have finished,
 *                       unless cfg.waitForTail is false)
 *
 * Modes:
 *   open-loop    one POST every `intervalMs` whatever the answers (logins);
 *   closed-loop  `clients` loops, each sending its next request when the
 *                previous one answered (sign-ins, refresh chains, heartbeats).
 *
 * `cfg.bearers` (optional): client k sends `Authorization: Bearer
 * bearers[k % bearers.length]` (one signed-in mitra per client).
 */
import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "undici";

const cfg = workerData;
const pool = new Pool(cfg.origin, {
  connections: cfg.connections,
  pipelining: 1,
  keepAliveTimeout: 30_000,
  headersTimeout: 120_000,
  bodyTimeout: 120_000,
});

let windowOpen = false;
let windowStart = 0;
const inWindow = { ok: 0, busy: 0, other: 0, failed: 0, latencies: [] };
let total = 0;
let okTotal = 0;
let inFlight = 0;
let lastError = "";

function record(status, ms, err) {
  total++;
  if (!err && status >= 200 && status < 300) okTotal++;
  if (err) lastError = String(err.message ?? err);
  else if (!(status >= 200 && status < 300)) lastError = `HTTP ${status}`;
  if (!windowOpen) return;
  if (err) inWindow.failed++;
  else if (status >= 200 && status < 300) {
    inWindow.ok++;
    inWindow.latencies.push(ms);
  } else if (status === 503) inWindow.busy++;
  else inWindow.other++;
}

async function post(path, payload, headers) {
  const started = performance.now();
  inFlight++;
  try {
    const { statusCode, body } = await pool.request({
      path,
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(payload),
    });
    let json = null;
    // 204 (heartbeats) has no body to parse.
    if (statusCode >= 200 && statusCode < 300 && statusCode !== 204) json = await body.json();
    else await body.dump();
    record(statusCode, performance.now() - started, null);
    return { statusCode, json };
  } catch (err) {
    record(0, performance.now() - started, err);
    return { statusCode: 0, json: null };
  } finally {
    inFlight--;
  }
}

function openLoop(deadline) {
  // Fire on a fixed schedule (start + i·interval), not "interval after the last
  // one": a slow answer never delays the next request (no coordinated omission).
  let i = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (windowStart + i * cfg.intervalMs <= now && windowStart + i * cfg.intervalMs < deadline) {
        void post(cfg.path, cfg.payload);
        i++;
      }
      const next = windowStart + i * cfg.intervalMs;
      if (next >= deadline) return setTimeout(resolve, Math.max(0, deadline - performance.now()));
      setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  });
}

/** One closed loop per client; `state[k]` is its refresh token in refresh mode. */
async function closedLoop(deadline) {
  const tokens = cfg.tokens ? [...cfg.tokens] : null;
  const bearers = cfg.bearers ?? null;
  const one = async (k) => {
    const headers = bearers ? { authorization: `Bearer ${bearers[k % bearers.length]}` } : undefined;
    while (performance.now() < deadline) {
      if (tokens) {
        const r = await post(cfg.path, { refreshToken: tokens[k] });
        if (r.json?.refreshToken) tokens[k] = r.json.refreshToken;
        else {
          // A broken chain would only repeat the error: start a new one (not counted as a refresh).
          const fresh = await post(cfg.signInPath, {});
          if (fresh.json?.refreshToken) tokens[k] = fresh.json.refreshToken;
        }
      } else {
        await post(cfg.path, cfg.payload, headers);
      }
    }
  };
  const loops = Array.from({ length: cfg.clients }, (_, k) => one(k));
  await new Promise((r) => setTimeout(r, Math.max(0, deadline - performance.now())));
  return { loops, tokens };
}

async function waitForTail(timeoutMs) {
  const until = performance.now() + timeoutMs;
  while (inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
}

parentPort.once("message", async () => {
  windowStart = performance.now();
  windowOpen = true;
  const deadline = windowStart + cfg.durationMs;
  let loops = [];
  let tokens = null;
  if (cfg.mode === "open-loop") await openLoop(deadline);
  else ({ loops, tokens } = await closedLoop(deadline));
  windowOpen = false;
  const elapsedMs = performance.now() - windowStart;
  const pendingAtEnd = inFlight;
  parentPort.postMessage({
    type: "window",
    elapsedMs,
    ok: inWindow.ok,
    busy: inWindow.busy,
    other: inWindow.other,
    failed: inWindow.failed,
    pendingAtEnd,
    latencies: inWindow.latencies,
    lastError,
  });
  if (cfg.waitForTail === false) return;
  await Promise.all(loops);
  await waitForTail(cfg.tailTimeoutMs ?? 20_000);
  parentPort.postMessage({ type: "done", total, okTotal, stillPending: inFlight, tokens });
  await pool.close();
});

parentPort.postMessage({ type: "ready" });
