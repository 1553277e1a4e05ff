/**
 * Baseline for chat-bench: the least a chat server spread over several
 * processes must do per message — store it, then deliver it to the other
 * party wherever that one is connected. A bare uWebSockets.js app with one
 * `/ws` route; several run side by side against one database and one Valkey
 * channel, as the gateways do:
 *
 *   upgrade  jsonwebtoken HS256 verify of the Bearer (the gateway's library,
 *            a KeyObject, HS256 pinned); no revocation check (connects are
 *            outside chat-bench's windows); 401 otherwise;
 *   open     subscribes the socket to `u:<type>:<id>`, sends a small hello;
 *   message  JSON.parse; `chat.send {sessionId, clientMsgId, text}`: the
 *            session's two parties from an in-process cache (one SELECT the
 *            first time a session is seen), then one autocommit
 *            `INSERT INTO chat_messages … RETURNING id, created_at`, then one
 *            PUBLISH of `{topic, frame}` on the channel, then the ack
 *            `{type:"ack", id, message}`. Every process subscribes to the
 *            channel and hands each frame to its uWS topic (`app.publish`).
 *
 * No party, status or expiry check, no idempotency lookup on a duplicate,
 * no zod, rate limit, backpressure rules or metrics. pg Pool of 10 (the
 * gateway's size); ioredis with its defaults, one connection to publish and
 * one to subscribe (the gateway's client does not auto-pipeline either).
 *
 *   DATABASE_URL=… VALKEY_URL=… CHANNEL=… AUTH_JWT_SECRET=… node bench/lib/naive-chat-server.mjs
 */
import uWS from "uWebSockets.js";
import { createSecretKey } from "node:crypto";
import Redis from "ioredis";
import jwt from "jsonwebtoken";
import pg from "pg";

const secret = process.env.AUTH_JWT_SECRET ?? "bench-secret-bench-secret-bench-secret-0";
const key = createSecretKey(Buffer.from(secret, "utf8"));
const channel = process.env.CHANNEL ?? "naive-chat";
const valkeyUrl = process.env.VALKEY_URL ?? "redis://127.0.0.1:6379";
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
pool.on("error", () => {});
const pub = new Redis(valkeyUrl);
const sub = new Redis(valkeyUrl);
await sub.subscribe(channel);

/** sessionId → {customer_id, mitra_id} */
const parties = new Map();
let sockets = 0;

const app = uWS.App();
sub.on("message", (_channel, raw) => {
  const m = JSON.parse(raw);
  app.publish(m.topic, m.frame);
});

async function chatSend(d, f) {
  let s = parties.get(f.sessionId);
  if (!s) {
    const { rows } = await pool.query("SELECT customer_id, mitra_id FROM chat_sessions WHERE id = $1", [
      f.sessionId,
    ]);
    s = rows[0];
    if (!s) throw new Error("no such session");
    parties.set(f.sessionId, s);
  }
  const { rows } = await pool.query(
    `INSERT INTO chat_messages (session_id, sender_type, sender_id, client_msg_id, text)
     VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`,
    [f.sessionId, d.type, d.id, f.clientMsgId, f.text],
  );
  const message = {
    id: rows[0].id,
    sessionId: f.sessionId,
    senderType: d.type,
    senderId: d.id,
    clientMsgId: f.clientMsgId,
    text: f.text,
    createdAt: rows[0].created_at.toISOString(),
  };
  const topic = d.type === "customer" ? `u:mitra:${s.mitra_id}` : `u:customer:${s.customer_id}`;
  await pub.publish(
    channel,
    JSON.stringify({ topic, frame: JSON.stringify({ type: "chat.message", message }) }),
  );
  return message;
}

function refuse(res, state) {
  if (!state.aborted) res.cork(() => res.writeStatus("401 Unauthorized").end());
}

app
  .ws("/ws", {
    maxPayloadLength: 16 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const wsKey = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      const token = /^Bearer\s+(\S+)\s*$/i.exec(req.getHeader("authorization"))?.[1];
      const state = { aborted: false };
      res.onAborted(() => {
        state.aborted = true;
      });
      let claims;
      try {
        claims = jwt.verify(token ?? "", key, { algorithms: ["HS256"] });
      } catch {
        return refuse(res, state);
      }
      if ((claims.typ !== "customer" && claims.typ !== "mitra") || typeof claims.sub !== "string")
        return refuse(res, state);
      res.upgrade({ id: claims.sub, type: claims.typ, closed: false }, wsKey, protocol, extensions, context);
    },
    open: (ws) => {
      sockets++;
      const d = ws.getUserData();
      ws.subscribe(`u:${d.type}:${d.id}`);
      ws.send(JSON.stringify({ type: "hello", userId: d.id, userType: d.type }));
    },
    message: (ws, message) => {
      let frame;
      try {
        frame = JSON.parse(Buffer.from(message).toString("utf8"));
      } catch {
        return void ws.send('{"type":"error","code":"BAD_FRAME"}');
      }
      if (frame?.type !== "chat.send")
        return void ws.send(JSON.stringify({ type: "error", id: frame?.id, code: "UNKNOWN_TYPE" }));
      const d = ws.getUserData();
      chatSend(d, frame).then(
        (m) => {
          if (!d.closed) ws.send(JSON.stringify({ type: "ack", id: frame.id, message: m }));
        },
        () => {
          if (!d.closed) ws.send(JSON.stringify({ type: "error", id: frame.id, code: "INTERNAL" }));
        },
      );
    },
    close: (ws) => {
      sockets--;
      ws.getUserData().closed = true;
    },
  })
  .get("/stats", (res) => {
    const cpu = process.cpuUsage();
    res
      .writeHeader("content-type", "application/json")
      .end(JSON.stringify({ cpuUs: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss(), sockets }));
  })
  .listen("127.0.0.1", Number(process.env.PORT ?? 0), (token) => {
    if (!token) {
      process.stderr.write("cannot listen\n");
      process.exit(1);
    }
    process.stdout.write(`${JSON.stringify({ listening: true, port: uWS.us_socket_local_port(token) })}\n`);
  });

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    pub.disconnect();
    sub.disconnect();
    pool.end().finally(() => process.exit(0));
  });
}
