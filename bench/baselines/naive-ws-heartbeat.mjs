/**
 * Baseline for ws-bench: the naive WebSocket heartbeat server the issue
 * compares against. A bare uWebSockets.js app with one `/ws` route:
 *
 *   upgrade  the access token (Authorization: Bearer, or ?access_token=) is
 *            verified with jsonwebtoken HS256 (the gateway's library, the key
 *            a KeyObject like the gateway's, HS256 pinned, `typ` must be
 *            "mitra"), then one EXISTS of `auth:revoked:<sid>` (awaited; 401
 *            if set), as the gateway's upgrade does; 401 without a socket
 *            otherwise;
 *   open     a small hello frame (so both servers are timed to the same
 *            point: the client's first frame); no registration, no topics,
 *            no timers;
 *   message  JSON.parse; a `{"type":"heartbeat","id":N}` frame awaits one
 *            SISMEMBER of the mitra on the deactivated set and one SET of its
 *            heartbeat key to the current ISO-8601 time, then sends
 *            `{"type":"ack","id":N}` (`error` frames for anything else).
 *
 * ioredis with `enableAutoPipelining: true`, one connection: the commands of
 * one event-loop tick go out in one write, but each heartbeat still costs two
 * commands and two awaits. No zod, no rate limit, no backpressure rules, no
 * batching across sockets, no Postgres. Same uWS options as the gateway's
 * endpoint (16 KiB frames, idleTimeout 60, automatic pings).
 *
 * GET /stats answers {cpuUs, rssBytes, sockets} (process.cpuUsage, all threads).
 *
 *   VALKEY_URL=redis://… VALKEY_KEY_PREFIX=… AUTH_JWT_SECRET=… node bench/baselines/naive-ws-heartbeat.mjs
 */

import uWS from "uWebSockets.js";
import { createSecretKey } from "node:crypto";
import Redis from "ioredis";
import jwt from "jsonwebtoken";

const secret = process.env.AUTH_JWT_SECRET ?? "bench-secret-bench-secret-bench-secret-0";
const key = createSecretKey(Buffer.from(secret, "utf8"));
const prefix = process.env.VALKEY_KEY_PREFIX ?? "";
// The gateway's standalone key names (src/valkey/keys.ts), written out by hand as a naive server would.
const deactivatedKey = `${prefix}mitras:deactivated`;
const heartbeatKey = (id) => `${prefix}mitra:heartbeat:${id}`;
const revokedKey = (sid) => `${prefix}auth:revoked:${sid}`;

const redis = new Redis(process.env.VALKEY_URL ?? "redis://127.0.0.1:6379", { enableAutoPipelining: true });
await new Promise((resolve, reject) => {
  redis.once("ready", resolve);
  redis.once("error", reject);
});

let sockets = 0;

function refuse(res, state, status) {
  if (state.aborted) return;
  res.cork(() => res.writeStatus(status).end());
}

uWS
  .App()
  .ws("/ws", {
    maxPayloadLength: 16 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      // The request is valid only now: copy everything before the first await.
      const wsKey = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      const token =
        /^Bearer\s+(\S+)\s*$/i.exec(req.getHeader("authorization"))?.[1] ??
        (new URLSearchParams(req.getQuery() ?? "").get("access_token") || undefined);
      const state = { aborted: false };
      res.onAborted(() => {
        state.aborted = true;
      });
      let claims;
      try {
        claims = jwt.verify(token ?? "", key, { algorithms: ["HS256"] });
      } catch {
        return refuse(res, state, "401 Unauthorized");
      }
      if (claims.typ !== "mitra" || typeof claims.sub !== "string")
        return refuse(res, state, "401 Unauthorized");
      redis.exists(revokedKey(claims.sid)).then(
        (revoked) => {
          if (revoked === 1) return refuse(res, state, "401 Unauthorized");
          if (state.aborted) return;
          res.cork(() =>
            res.upgrade({ id: claims.sub, sid: claims.sid }, wsKey, protocol, extensions, context),
          );
        },
        () => refuse(res, state, "503 Service Unavailable"),
      );
    },
    open: (ws) => {
      sockets++;
      const d = ws.getUserData();
      ws.send(JSON.stringify({ type: "hello", userId: d.id, userType: "mitra", authSessionId: d.sid }));
    },
    message: (ws, message) => {
      let frame;
      try {
        frame = JSON.parse(Buffer.from(message).toString("utf8"));
      } catch {
        return void ws.send('{"type":"error","code":"BAD_FRAME"}');
      }
      if (frame?.type !== "heartbeat") return void ws.send('{"type":"error","code":"UNKNOWN_TYPE"}');
      const d = ws.getUserData();
      void heartbeat(d.id).then(
        (ok) => {
          if (d.closed) return;
          ws.send(
            ok
              ? JSON.stringify({ type: "ack", id: frame.id })
              : JSON.stringify({ type: "error", id: frame.id, code: "ACCOUNT_INACTIVE" }),
          );
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

async function heartbeat(mitraId) {
  if ((await redis.sismember(deactivatedKey, mitraId)) === 1) return false;
  await redis.set(heartbeatKey(mitraId), new Date().toISOString());
  return true;
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    redis.disconnect();
    process.exit(0);
  });
}
