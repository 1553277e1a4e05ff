/**
 * WebSocket client load for ws-bench, in a child process of its own (several
 * run side by side, so the load never shares the server's event loop or one
 * client loop). `ws` package, no compression. Driven over IPC, one command
 * at a time; every command answers one message:
 *
 *   {cmd:"connect", url, tokens, localAddress, concurrency}
 *       opens one socket per token (Authorization: Bearer), at most
 *       `concurrency` handshakes in flight, each done when its first frame
 *       (hello) arrives → {type:"connected", opened, failed, firstError, startMs, endMs}
 *   {cmd:"open-loop", startAt, intervalMs, warmupMs, durationMs, offsets}
 *       socket i sends `{"type":"heartbeat","id":n}` at startAt + offsets[i]
 *       + n·intervalMs (epoch ms), whatever the answers; latencies of the
 *       frames scheduled inside [startAt + warmupMs, + durationMs), measured
 *       from the scheduled time (no coordinated omission)
 *       → {type:"open-loop", sent, acked, errors, unanswered, latencies, sendLags, …}
 *   {cmd:"closed-loop", sockets, durationMs, minGapMs, throttleGapMs, phase}
 *       the first `sockets` sockets each send the next heartbeat when the
 *       previous one is answered (paced, when minGapMs is set: no sooner than
 *       its next slot on a fixed minGapMs schedule); a socket told
 *       RATE_LIMITED waits retryAfterSeconds, then sends at most one frame
 *       per throttleGapMs from then on; after the window, waits for the
 *       frames in flight
 *       → {type:"closed-loop", acked, ackedInWindow, errors, refused, throttled, closedByServer, …}
 *   {cmd:"reopen", url, localAddress}  a fresh socket (same token) for every closed one
 *   {cmd:"close-all"}  terminates every socket → {type:"closed", n}
 *   {cmd:"exit"}
 *
 * Latencies are ms (3 decimals). An error frame answering a heartbeat counts
 * as an error, not an ack (its code is kept in `errorCodes`).
 */
import { WebSocketImpl as WebSocket } from "./ws-impl.mjs";

const absNow = () => performance.timeOrigin + performance.now();
/** A closed-loop frame with no answer after this long is given up (counted) and the loop goes on. */
const CLOSED_LOOP_TIMEOUT_MS = 2000;
const TAIL_MS = 5000;

/** @type {{ws: WebSocket, seq: number, sent: Map<number, number>, onAnswer?: Function}[]} */
let sockets = [];
let firstError = "";
const errorCodes = {};
/** Close codes of sockets that had opened (e.g. 4008: refused by the rate limit in 5 consecutive seconds). */
const closeCodes = {};

function answerOf(s, data) {
  let f;
  try {
    f = JSON.parse(data.toString());
  } catch {
    return;
  }
  if (f.type === "hello") {
    s.hello?.();
    s.hello = undefined;
    return;
  }
  if (f.type !== "ack" && f.type !== "error") return;
  if (f.type === "error") {
    errorCodes[f.code] = (errorCodes[f.code] ?? 0) + 1;
    // RATE_LIMITED carries no id: the refused frame gets no answer of its own (contract §4).
    if (f.code === "RATE_LIMITED") s.onRefused?.(f.retryAfterSeconds);
    if (f.id === undefined) return;
  }
  const at = s.sent.get(f.id);
  if (at === undefined) return;
  s.sent.delete(f.id);
  s.onAnswer?.(f.id, at, f.type === "ack");
}

function openOne(url, token, localAddress) {
  return new Promise((resolve) => {
    const s = {
      ws: null,
      token,
      seq: 0,
      sent: new Map(),
      onAnswer: undefined,
      onRefused: undefined,
      hello: undefined,
      /** Told RATE_LIMITED: no frame before this time, then at most one per throttleGapMs. */
      blockedUntil: 0,
      throttleGapMs: 0,
    };
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
      localAddress,
      handshakeTimeout: 30_000,
    });
    s.ws = ws;
    let done = false;
    const finish = (ok, err) => {
      if (done) return;
      done = true;
      if (!ok && !firstError) firstError = String(err);
      resolve(ok ? s : null);
    };
    s.hello = () => finish(true);
    ws.on("message", (data) => answerOf(s, data));
    ws.on("unexpected-response", (_req, res) => {
      finish(false, `HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on("error", (err) => finish(false, err.message));
    ws.on("close", (code) => {
      if (done) closeCodes[code] = (closeCodes[code] ?? 0) + 1;
      finish(false, `closed ${code}`);
    });
  });
}

async function connect({ url, tokens, localAddress, concurrency }) {
  const startMs = absNow();
  let next = 0;
  let failed = 0;
  const opened = [];
  const lane = async () => {
    while (next < tokens.length) {
      const s = await openOne(url, tokens[next++], localAddress);
      if (s) opened.push(s);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  const endMs = absNow();
  sockets.push(...opened);
  return {
    type: "connected",
    opened: opened.length,
    failed,
    firstError,
    startMs,
    endMs,
    total: sockets.length,
  };
}

function send(s, intended) {
  const id = ++s.seq;
  s.sent.set(id, intended);
  s.ws.send(`{"type":"heartbeat","id":${id}}`);
  return id;
}

async function openLoop({ startAt, intervalMs, warmupMs, durationMs, offsets }) {
  const n = Math.min(offsets.length, sockets.length);
  const windowStart = startAt + warmupMs;
  const windowEnd = windowStart + durationMs;
  const latencies = [];
  const sendLags = [];
  /** Acks 5 ms or more after their scheduled send: {at (arrival, epoch ms), ms}, to lay over server stalls. */
  const slowAcks = [];
  let sent = 0;
  let acked = 0;
  let errors = 0;
  const errors0 = { ...errorCodes };
  for (let i = 0; i < n; i++) {
    sockets[i].onAnswer = (_id, intended, ok) => {
      if (intended < windowStart || intended >= windowEnd) return;
      if (ok) {
        acked++;
        const at = absNow();
        latencies.push(Math.round((at - intended) * 1000) / 1000);
        if (at - intended >= 5) slowAcks.push({ at, ms: at - intended });
      } else errors++;
    };
  }
  // Walk the schedule: socket order is offset order, cycle after cycle.
  let i = 0;
  let cycle = 0;
  const due = () => startAt + cycle * intervalMs + offsets[i];
  await new Promise((resolve) => {
    const tick = () => {
      const now = absNow();
      while (due() <= now) {
        const t = due();
        if (t >= windowEnd) return resolve();
        const s = sockets[i];
        if (s.ws.readyState === WebSocket.OPEN) {
          send(s, t);
          if (t >= windowStart) {
            sent++;
            sendLags.push(Math.round((now - t) * 1000) / 1000);
          }
        }
        if (++i === n) {
          i = 0;
          cycle++;
        }
      }
      setTimeout(tick, Math.max(0, due() - absNow() - 0.5));
    };
    tick();
  });
  // Wait for the frames of the window still in flight.
  const until = absNow() + TAIL_MS;
  const inFlight = () => {
    let k = 0;
    for (let j = 0; j < n; j++) for (const t of sockets[j].sent.values()) if (t >= windowStart) k++;
    return k;
  };
  while (inFlight() > 0 && absNow() < until) await new Promise((r) => setTimeout(r, 20));
  const unanswered = inFlight();
  for (let j = 0; j < n; j++) {
    sockets[j].onAnswer = undefined;
    sockets[j].sent.clear();
  }
  return {
    type: "open-loop",
    sent,
    acked,
    errors,
    unanswered,
    latencies,
    sendLags,
    slowAcks,
    errorCodes: diff(errors0),
  };
}

function diff(before, now = errorCodes) {
  const out = {};
  for (const [k, v] of Object.entries(now)) if (v !== (before[k] ?? 0)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** Opens a fresh socket (same token) in place of every one the server closed. */
async function reopen({ url, localAddress }) {
  let reopened = 0;
  let failed = 0;
  for (let i = 0; i < sockets.length; i++) {
    if (sockets[i].ws.readyState === WebSocket.OPEN) continue;
    const s = await openOne(url, sockets[i].token, localAddress);
    if (s) {
      sockets[i] = s;
      reopened++;
    } else failed++;
  }
  return { type: "reopened", reopened, failed, firstError };
}

async function closedLoop({
  sockets: count,
  durationMs,
  minGapMs = 0,
  throttleGapMs = 0,
  phase = { first: 0, stride: 1, of: count },
}) {
  const n = Math.min(count, sockets.length);
  const latencies = [];
  let acked = 0;
  let ackedInWindow = 0;
  let errors = 0;
  let timeouts = 0;
  let open = true;
  const errors0 = { ...errorCodes };
  const closes0 = { ...closeCodes };
  const t0 = absNow();
  const deadline = t0 + durationMs;
  // Paced (minGapMs): socket j's sends are due every minGapMs on a fixed schedule (a late timer does
  // not push the next one back); an ack arriving after its next due time is answered at once. The
  // schedules are spread evenly over the gap, across all clients (socket j here is socket
  // phase.first + j·phase.stride of phase.of), so the offered load is steady, not in bursts.
  const lastDue = Float64Array.from(
    { length: n },
    (_, j) => t0 + ((phase.first + j * phase.stride) / phase.of) * minGapMs - minGapMs,
  );
  const retryTimers = new Set();
  const sendNow = (j) => {
    const s = sockets[j];
    if (open && s.ws.readyState === WebSocket.OPEN) send(s, absNow());
  };
  const fire = (j) => {
    if (!open) return;
    const now = absNow();
    // Told RATE_LIMITED (in this window or one before): wait out retryAfterSeconds first.
    const blockedUntil = sockets[j].blockedUntil;
    if (blockedUntil > now) {
      const t = setTimeout(() => {
        retryTimers.delete(t);
        fire(j);
      }, blockedUntil - now);
      retryTimers.add(t);
      return;
    }
    const gap = Math.max(minGapMs, sockets[j].throttleGapMs);
    if (gap > 0) {
      const due = lastDue[j] + gap;
      lastDue[j] = Math.max(due, now);
      if (due > now) return void setTimeout(() => sendNow(j), due - now);
    } else lastDue[j] = now;
    sendNow(j);
  };
  let refused = 0;
  for (let j = 0; j < n; j++) {
    // Refused by the per-socket rate limit: its frame in flight will never be answered. As a client
    // should: wait retryAfterSeconds, then keep within the limit (one frame per throttleGapMs) —
    // bursting again would be refused again, and five such seconds in a row close the socket (4008).
    sockets[j].onRefused = (retryAfterSeconds) => {
      refused++;
      sockets[j].sent.clear();
      sockets[j].blockedUntil = absNow() + (Number(retryAfterSeconds) || 1) * 1000;
      sockets[j].throttleGapMs = throttleGapMs;
      fire(j);
    };
    sockets[j].onAnswer = (_id, at, ok) => {
      const now = absNow();
      if (ok) {
        acked++;
        if (now < deadline) {
          ackedInWindow++;
          latencies.push(Math.round((now - at) * 1000) / 1000);
        }
      } else errors++;
      if (now < deadline) fire(j);
    };
  }
  // A frame the server never answers would stop its loop: give it up after a while and go on.
  const watchdog = setInterval(() => {
    const now = absNow();
    for (let j = 0; j < n; j++) {
      const s = sockets[j];
      for (const [id, at] of s.sent) {
        if (now - at > CLOSED_LOOP_TIMEOUT_MS) {
          s.sent.delete(id);
          timeouts++;
          if (now < deadline) fire(j);
        }
      }
    }
  }, 250);
  for (let j = 0; j < n; j++) fire(j);
  await new Promise((r) => setTimeout(r, Math.max(0, deadline - absNow())));
  open = false;
  for (const t of retryTimers) clearTimeout(t);
  const elapsedMs = absNow() - t0;
  const until = absNow() + TAIL_MS;
  const inFlight = () => {
    let k = 0;
    for (let j = 0; j < n; j++) k += sockets[j].sent.size;
    return k;
  };
  while (inFlight() > 0 && absNow() < until) await new Promise((r) => setTimeout(r, 10));
  clearInterval(watchdog);
  const unanswered = inFlight();
  for (let j = 0; j < n; j++) {
    sockets[j].onAnswer = undefined;
    sockets[j].onRefused = undefined;
    sockets[j].sent.clear();
  }
  return {
    type: "closed-loop",
    acked,
    ackedInWindow,
    errors,
    refused,
    throttled: sockets.slice(0, n).filter((x) => x.throttleGapMs > 0).length,
    closedByServer: diff(closes0, closeCodes),
    timeouts,
    unanswered,
    elapsedMs,
    latencies,
    errorCodes: diff(errors0),
  };
}

async function closeAll() {
  const all = sockets;
  sockets = [];
  await Promise.all(
    all.map(
      (s) =>
        new Promise((resolve) => {
          if (s.ws.readyState === WebSocket.CLOSED) return resolve();
          s.ws.once("close", resolve);
          s.ws.terminate();
        }),
    ),
  );
  return { type: "closed", n: all.length };
}

process.on("message", async (m) => {
  let reply;
  try {
    if (m.cmd === "connect") reply = await connect(m);
    else if (m.cmd === "open-loop") reply = await openLoop(m);
    else if (m.cmd === "closed-loop") reply = await closedLoop(m);
    else if (m.cmd === "reopen") reply = await reopen(m);
    else if (m.cmd === "close-all") reply = await closeAll();
    else if (m.cmd === "exit") {
      await closeAll();
      process.exit(0);
    } else reply = { type: "error", message: `unknown command ${m.cmd}` };
  } catch (err) {
    reply = { type: "error", message: String(err?.stack ?? err) };
  }
  process.send(reply);
});
process.on("disconnect", () => process.exit(0));
process.send({ type: "ready" });
