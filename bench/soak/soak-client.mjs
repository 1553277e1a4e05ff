/**
 * Soak load for bench/soak/soak.mjs, in a child process of its own (several
 * run side by side). Authenticated mitra sockets (`ws`, no compression) that
 * heartbeat on a steady schedule while a share of them is closed and opened
 * again every second (the reconnect churn of a real fleet). Driven over IPC,
 * one reply per command:
 *
 *   {cmd:"connect", url, tokens, localAddress, concurrency}
 *       one socket per token, open when its hello arrives → {opened, failed, firstError}
 *   {cmd:"run", intervalMs, churnPerSecond}
 *       socket i heartbeats every intervalMs from its own offset (i/n of the
 *       interval), whatever the answers; churnPerSecond times a second, spread
 *       evenly, the next socket (round robin) is closed (1000) and opened again
 *       with the same token; the schedule skips a socket while it is
 *       reopening → {}
 *   {cmd:"mark"}  figures since the previous mark → {sent, acked, errors,
 *       errorCodes, unanswered, latencies, reconnects, reconnectFailures, firstError}
 *   {cmd:"stop"}, {cmd:"exit"}
 *
 * Latencies are ms from the scheduled send time to the ack (a late timer
 * counts against the server too: no coordinated omission).
 */
import { WebSocketImpl as WebSocket } from "../lib/ws-impl.mjs";

const now = () => performance.now();
/** A heartbeat unanswered this long is counted once as unanswered and forgotten. */
const UNANSWERED_MS = 10_000;

/** @type {{token: string, ws: WebSocket | null, sent: Map<number, number>, seq: number}[]} */
const sockets = [];
let url = "";
let localAddress = "";
let firstError = "";
let timers = [];
let m = fresh();

function fresh() {
  return {
    sent: 0,
    acked: 0,
    errors: 0,
    errorCodes: {},
    unanswered: 0,
    latencies: [],
    reconnects: 0,
    reconnectFailures: 0,
  };
}

function onMessage(s, data) {
  let f;
  try {
    f = JSON.parse(data.toString());
  } catch {
    return;
  }
  if (f.type !== "ack" && f.type !== "error") return;
  const at = s.sent.get(f.id);
  if (at === undefined) return;
  s.sent.delete(f.id);
  if (f.type === "ack") {
    m.acked++;
    m.latencies.push(Math.round((now() - at) * 1000) / 1000);
  } else {
    m.errors++;
    m.errorCodes[f.code] = (m.errorCodes[f.code] ?? 0) + 1;
  }
}

/** Opens s.ws; resolves true once the hello frame arrived. */
function open(s) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${s.token}` },
      perMessageDeflate: false,
      localAddress,
      handshakeTimeout: 30_000,
    });
    let done = false;
    const finish = (ok, err) => {
      if (done) return;
      done = true;
      if (ok) s.ws = ws;
      else if (!firstError) firstError = String(err);
      resolve(ok);
    };
    ws.on("message", (data) => {
      if (!done) return finish(true);
      onMessage(s, data);
    });
    ws.on("unexpected-response", (_req, res) => {
      finish(false, `HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on("error", (err) => finish(false, err.message));
    ws.on("close", (code) => {
      finish(false, `closed ${code}`);
      if (s.ws === ws) s.ws = null;
    });
  });
}

async function connect(msg) {
  url = msg.url;
  localAddress = msg.localAddress;
  const entries = msg.tokens.map((token) => ({ token, ws: null, sent: new Map(), seq: 0 }));
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < entries.length) {
      const s = entries[next++];
      if (await open(s)) sockets.push(s);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, msg.concurrency) }, lane));
  return { opened: sockets.length, failed, firstError };
}

async function churnOne(s) {
  const old = s.ws;
  s.ws = null;
  s.sent.clear();
  old?.close(1000);
  if (await open(s)) m.reconnects++;
  else m.reconnectFailures++;
}

function run({ intervalMs, churnPerSecond }) {
  const n = sockets.length;
  const t0 = now();
  let i = 0;
  let cycle = 0;
  const due = () => t0 + cycle * intervalMs + (i / n) * intervalMs;
  const tick = () => {
    const t = now();
    while (due() <= t) {
      const s = sockets[i];
      if (s.ws && s.ws.readyState === WebSocket.OPEN) {
        const id = ++s.seq;
        s.sent.set(id, due());
        s.ws.send(`{"type":"heartbeat","id":${id}}`);
        m.sent++;
      }
      if (++i === n) {
        i = 0;
        cycle++;
      }
    }
    timers[0] = setTimeout(tick, Math.max(0, due() - now() - 0.5));
  };
  tick();
  // Spread over the second, one socket at a time, as a fleet's reconnects arrive (not all at once).
  let c = 0;
  timers[1] = setInterval(() => void churnOne(sockets[c++ % n]), 1000 / churnPerSecond);
  return {};
}

function mark() {
  const out = { ...m, firstError };
  const old = now() - UNANSWERED_MS;
  let unanswered = 0;
  for (const s of sockets)
    for (const [id, at] of s.sent)
      if (at < old) {
        s.sent.delete(id);
        unanswered++;
      }
  out.unanswered = unanswered;
  m = fresh();
  return out;
}

function stop() {
  clearTimeout(timers[0]);
  clearInterval(timers[1]);
  timers = [];
  return {};
}

process.on("message", async (msg) => {
  let reply;
  try {
    if (msg.cmd === "connect") reply = await connect(msg);
    else if (msg.cmd === "run") reply = run(msg);
    else if (msg.cmd === "mark") reply = mark();
    else if (msg.cmd === "stop") reply = stop();
    else if (msg.cmd === "exit") {
      stop();
      for (const s of sockets) s.ws?.terminate();
      process.exit(0);
    } else reply = { type: "error", message: `unknown command ${msg.cmd}` };
  } catch (err) {
    reply = { type: "error", message: String(err?.stack ?? err) };
  }
  process.send(reply);
});
process.on("disconnect", () => process.exit(0));
process.send({ type: "ready" });
