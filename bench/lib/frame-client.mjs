/**
 * WebSocket clients for pairing-bench and chat-bench, in a child process of
 * their own (several run side by side, so the load never shares a server's
 * event loop). `ws` package, no compression. Driven over IPC: every command
 * carries a `rid` and gets one reply with the same `rid`; unsolicited
 * `{event:"frame", …}` messages report the watched frame types as they arrive.
 *
 * Times are ms on CLOCK_MONOTONIC (`process.hrtime`), which every process on
 * the machine shares, so a time taken here and one taken in another client
 * process (or in the bench) can be subtracted.
 *
 *   {cmd:"connect", sockets:[{key, url, token}], localAddress, concurrency}
 *       one socket per entry (Authorization: Bearer), open when its hello
 *       arrives → {opened, failed, firstError, heartbeatIntervalSeconds}
 *   {cmd:"watch", types}  frame types forwarded as events:
 *       {event:"frame", key, type, t, requestId, sessionId}
 *   {cmd:"send", key, frame}  sends frame (an id is added), waits for its ack
 *       or error (5 s) → {tSend, tReply, reply}
 *   {cmd:"heartbeats", keys, startAt, intervalMs}  each socket in `keys`
 *       sends `heartbeat` every intervalMs from startAt + (its index /
 *       keys.length) · intervalMs, until "heartbeats-stop"
 *   {cmd:"hb-mark"}  → {latencies, errors, unanswered}: acks of the
 *       heartbeats sent since the previous mark (ms from send to ack)
 *   {cmd:"chat-loop", senders:[{key, sessionId, offset}], startAt, intervalMs,
 *       warmupMs, durationMs, tag, textBytes, tailMs}
 *       open loop: sender i sends `chat.send` at startAt + offset + n ·
 *       intervalMs, whatever the answers; every client process runs it at the
 *       same time (senders may be empty) and records the `chat.message`
 *       frames it receives whose scheduled time lies in the window
 *       → {sent, acked, errors, errorCodes, ackLatencies, sendLags, received, latencies}
 *   {cmd:"close-all"}, {cmd:"exit"}
 */
import WebSocket from "ws";

const hr = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const SEND_TIMEOUT_MS = 5000;

/** @type {Map<string, any>} */
const sockets = new Map();
let watched = new Set();
let firstError = "";
let heartbeatIntervalSeconds = Number.NaN;
let qSeq = 0;
let hbSeq = 0;
let chatSeq = 0;

// ---------------------------------------------------------------- heartbeats

/** id → send time of heartbeats in flight (ids are unique in this process). */
const hbInFlight = new Map();
let hbLatencies = [];
let hbErrors = 0;
let hbTimer = null;

// ---------------------------------------------------------------- chat

/** The open loop in progress: its window and what it recorded. */
let chat = null;

function onFrame(s, data) {
  const t = hr();
  let f;
  try {
    f = JSON.parse(data.toString());
  } catch {
    return;
  }
  const type = f.type;
  if (type === "hello") {
    heartbeatIntervalSeconds = f.heartbeatIntervalSeconds;
    s.hello?.();
    s.hello = undefined;
    return;
  }
  if (type === "ack" || type === "error") {
    const id = f.id;
    if (typeof id !== "string") return;
    if (id[0] === "h") {
      const at = hbInFlight.get(id);
      if (at === undefined) return;
      hbInFlight.delete(id);
      if (type === "ack") hbLatencies.push(Math.round((t - at) * 1000) / 1000);
      else hbErrors++;
      return;
    }
    if (id[0] === "c") {
      const c = chat;
      const at = c?.inFlight.get(id);
      if (at === undefined) return;
      c.inFlight.delete(id);
      if (type === "ack") {
        c.acked++;
        if (at >= c.windowStart && at < c.windowEnd) c.ackLatencies.push(Math.round((t - at) * 1000) / 1000);
      } else {
        c.errors++;
        c.errorCodes[f.code] = (c.errorCodes[f.code] ?? 0) + 1;
      }
      return;
    }
    const p = s.pending.get(id);
    if (!p) return;
    s.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve({ tSend: p.tSend, tReply: t, reply: f });
    return;
  }
  if (type === "chat.message") {
    const c = chat;
    if (!c) return;
    // The sender put its scheduled send time first in the text.
    const at = Number.parseFloat(f.message?.text ?? "");
    if (!(at >= c.windowStart && at < c.windowEnd)) return;
    c.received++;
    c.latencies.push(Math.round((t - at) * 1000) / 1000);
    return;
  }
  if (watched.has(type)) {
    process.send({
      event: "frame",
      key: s.key,
      type,
      t,
      requestId: f.requestId,
      sessionId: f.sessionId ?? f.session?.id,
      reason: f.reason,
    });
  }
}

function openOne(entry, localAddress) {
  return new Promise((resolve) => {
    const s = { key: entry.key, ws: null, pending: new Map(), hello: undefined };
    const ws = new WebSocket(entry.url, {
      headers: { authorization: `Bearer ${entry.token}` },
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
    ws.on("message", (data) => onFrame(s, data));
    ws.on("unexpected-response", (_req, res) => {
      finish(false, `HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on("error", (err) => finish(false, err.message));
    ws.on("close", (code) => finish(false, `closed ${code}`));
  });
}

async function connect({ sockets: entries, localAddress, concurrency }) {
  let next = 0;
  let opened = 0;
  let failed = 0;
  const lane = async () => {
    while (next < entries.length) {
      const s = await openOne(entries[next++], localAddress);
      if (s) {
        sockets.set(s.key, s);
        opened++;
      } else failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  return { opened, failed, firstError, heartbeatIntervalSeconds, total: sockets.size };
}

function send({ key, frame }) {
  const s = sockets.get(key);
  if (!s || s.ws.readyState !== WebSocket.OPEN)
    return Promise.resolve({ error: `socket ${key} is not open` });
  const id = `q${++qSeq}`;
  return new Promise((resolve) => {
    const tSend = hr();
    const timer = setTimeout(() => {
      s.pending.delete(id);
      resolve({ tSend, tReply: Number.NaN, reply: null });
    }, SEND_TIMEOUT_MS);
    s.pending.set(id, { tSend, resolve, timer });
    s.ws.send(JSON.stringify({ ...frame, id }));
  });
}

/**
 * Walks a fixed schedule: entry i is due at startAt + offsets[i] + n · intervalMs
 * (offsets ascending), calling fn(i, due) for each due time before endAt (or until
 * stop()). A late timer sends what is due at once: no coordinated omission.
 */
function walk(startAt, intervalMs, offsets, endAt, fn) {
  let i = 0;
  let cycle = 0;
  let stopped = false;
  let timer = null;
  const n = offsets.length;
  const due = () => startAt + cycle * intervalMs + offsets[i];
  const done = new Promise((resolve) => {
    if (n === 0) {
      const wait = () =>
        stopped || hr() >= endAt ? resolve() : setTimeout(wait, Math.min(50, endAt - hr()));
      return wait();
    }
    const tick = () => {
      if (stopped) return resolve();
      const now = hr();
      while (due() <= now) {
        const t = due();
        if (t >= endAt) return resolve();
        fn(i, t, now);
        if (++i === n) {
          i = 0;
          cycle++;
        }
      }
      timer = setTimeout(tick, Math.max(0, due() - hr() - 0.5));
    };
    tick();
  });
  return {
    done,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}

function heartbeats({ keys, startAt, intervalMs }) {
  hbTimer?.stop();
  const list = keys.map((k) => sockets.get(k)).filter(Boolean);
  const offsets = list.map((_, i) => (i / list.length) * intervalMs);
  hbTimer = walk(startAt, intervalMs, offsets, Number.POSITIVE_INFINITY, (i, t) => {
    const s = list[i];
    if (s.ws.readyState !== WebSocket.OPEN) return;
    const id = `h${++hbSeq}`;
    hbInFlight.set(id, t);
    s.ws.send(`{"type":"heartbeat","id":"${id}"}`);
  });
  return { scheduled: list.length };
}

function hbMark() {
  const out = { latencies: hbLatencies, errors: hbErrors, inFlight: hbInFlight.size };
  hbLatencies = [];
  hbErrors = 0;
  // A heartbeat unanswered for 10 s is dropped (counted as unanswered once).
  const old = hr() - 10_000;
  let unanswered = 0;
  for (const [id, at] of hbInFlight)
    if (at < old) {
      hbInFlight.delete(id);
      unanswered++;
    }
  return { ...out, unanswered };
}

async function chatLoop({ senders, startAt, intervalMs, warmupMs, durationMs, tag, textBytes, tailMs }) {
  const windowStart = startAt + warmupMs;
  const windowEnd = windowStart + durationMs;
  const c = {
    windowStart,
    windowEnd,
    inFlight: new Map(),
    sent: 0,
    sentTotal: 0,
    acked: 0,
    errors: 0,
    errorCodes: {},
    ackLatencies: [],
    sendLags: [],
    received: 0,
    latencies: [],
  };
  chat = c;
  const list = senders.map((x) => ({ ...x, s: sockets.get(x.key) }));
  const pad = "x".repeat(Math.max(0, textBytes - 20));
  const loop = walk(
    startAt,
    intervalMs,
    list.map((x) => x.offset),
    windowEnd,
    (i, t, now) => {
      const x = list[i];
      if (!x.s || x.s.ws.readyState !== WebSocket.OPEN) return;
      const n = ++chatSeq;
      const id = `c${n}`;
      c.inFlight.set(id, t);
      c.sentTotal++;
      if (t >= windowStart) {
        c.sent++;
        c.sendLags.push(Math.round((now - t) * 1000) / 1000);
      }
      x.s.ws.send(
        JSON.stringify({
          type: "chat.send",
          id,
          sessionId: x.sessionId,
          clientMsgId: `${tag}-${n}`,
          text: `${t.toFixed(3)} ${pad}`,
        }),
      );
    },
  );
  await loop.done;
  // The tail: answers and deliveries of the window's last frames.
  const until = hr() + tailMs;
  while (c.inFlight.size > 0 && hr() < until) await new Promise((r) => setTimeout(r, 20));
  // Deliveries to this process of frames other processes sent: a second more, then they count as lost.
  await new Promise((r) => setTimeout(r, 1000));
  chat = null;
  return {
    sent: c.sent,
    sentTotal: c.sentTotal,
    acked: c.acked,
    unanswered: c.inFlight.size,
    errors: c.errors,
    errorCodes: c.errorCodes,
    ackLatencies: c.ackLatencies,
    sendLags: c.sendLags,
    received: c.received,
    latencies: c.latencies,
  };
}

async function closeAll() {
  hbTimer?.stop();
  hbTimer = null;
  const all = [...sockets.values()];
  sockets.clear();
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
  return { closed: all.length };
}

process.on("message", async (m) => {
  let reply;
  try {
    if (m.cmd === "connect") reply = await connect(m);
    else if (m.cmd === "watch") {
      watched = new Set(m.types);
      reply = {};
    } else if (m.cmd === "send") reply = await send(m);
    else if (m.cmd === "heartbeats") reply = heartbeats(m);
    else if (m.cmd === "heartbeats-stop") {
      hbTimer?.stop();
      hbTimer = null;
      reply = {};
    } else if (m.cmd === "hb-mark") reply = hbMark();
    else if (m.cmd === "chat-loop") reply = await chatLoop(m);
    else if (m.cmd === "close-all") reply = await closeAll();
    else if (m.cmd === "exit") {
      await closeAll();
      process.exit(0);
    } else reply = { error: `unknown command ${m.cmd}` };
  } catch (err) {
    reply = { error: String(err?.stack ?? err) };
  }
  process.send({ rid: m.rid, ...reply });
});
process.on("disconnect", () => process.exit(0));
process.send({ event: "ready" });
