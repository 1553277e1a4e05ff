/**
 * Open-loop authenticated GETs, in a worker thread so the load never shares
 * an event loop with the server (another process) or with the bench's own
 * orchestration:
 *
 *   main → new Worker(cfg)  ·  worker → {type:"ready"}  ·  main → "go"
 *   worker → {type:"result", …}  (after the requests still in flight answered,
 *                                 or cfg.tailTimeoutMs)
 *
 * Request i is due at start + i / cfg.ratePerSec, whatever the answers (no
 * coordinated omission: a slow answer never delays the next request), and
 * carries `Authorization: Bearer cfg.bearers[i % n]`. The latency is from
 * the moment it was sent to its last body byte; how late it was sent against
 * its due time is recorded apart (`lagP99Ms`: the client's own scheduling
 * lag, not the server's). Keep-alive connections (undici Pool, no pipelining).
 * With `cfg.expect`, a 2xx body that does not contain that substring is
 * counted as `unexpected` (the first one is kept).
 */
import { parentPort, workerData } from "node:worker_threads";
import { Pool } from "undici";

const cfg = workerData;
const pool = new Pool(cfg.origin, {
  connections: cfg.connections ?? 16,
  pipelining: 1,
  keepAliveTimeout: 30_000,
  headersTimeout: 30_000,
  bodyTimeout: 30_000,
});

const latencies = [];
/** Per answered 2xx read: when it was sent, ms after the window opened (same order as latencies). */
const sentAt = [];
const lags = [];
let windowStart = 0;
const out = { sent: 0, ok: 0, non2xx: 0, failed: 0, unexpected: 0, firstUnexpected: "", lastError: "" };
let inFlight = 0;

async function get(dueAt, bearer) {
  const started = performance.now();
  lags.push(started - dueAt);
  out.sent++;
  inFlight++;
  try {
    const { statusCode, body } = await pool.request({
      path: cfg.path,
      method: "GET",
      headers: { authorization: `Bearer ${bearer}` },
    });
    const text = await body.text();
    const ms = performance.now() - started;
    if (statusCode >= 200 && statusCode < 300) {
      out.ok++;
      latencies.push(ms);
      sentAt.push(started - windowStart);
      if (cfg.expect && !text.includes(cfg.expect)) {
        out.unexpected++;
        out.firstUnexpected ||= text.slice(0, 300);
      }
    } else {
      out.non2xx++;
      out.lastError = `HTTP ${statusCode} ${text.slice(0, 200)}`;
    }
  } catch (err) {
    out.failed++;
    out.lastError = String(err?.message ?? err);
  } finally {
    inFlight--;
  }
}

function openLoop(start, deadline) {
  const intervalMs = 1000 / cfg.ratePerSec;
  const n = cfg.bearers.length;
  let i = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (start + i * intervalMs <= now && start + i * intervalMs < deadline) {
        void get(start + i * intervalMs, cfg.bearers[i % n]);
        i++;
      }
      const next = start + i * intervalMs;
      if (next >= deadline) return resolve();
      setTimeout(tick, Math.max(0, next - performance.now()));
    };
    tick();
  });
}

parentPort.once("message", async () => {
  const start = performance.now();
  windowStart = start;
  await openLoop(start, start + cfg.durationMs);
  const elapsedMs = performance.now() - start;
  const pendingAtEnd = inFlight;
  const until = performance.now() + (cfg.tailTimeoutMs ?? 10_000);
  while (inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  lags.sort((a, b) => a - b);
  parentPort.postMessage({
    type: "result",
    ...out,
    elapsedMs,
    pendingAtEnd,
    stillPending: inFlight,
    latencies,
    sentAt,
    lagP99Ms: lags.length ? lags[Math.min(lags.length - 1, Math.ceil(0.99 * lags.length) - 1)] : Number.NaN,
  });
  await pool.close().catch(() => {});
});

parentPort.postMessage({ type: "ready" });
