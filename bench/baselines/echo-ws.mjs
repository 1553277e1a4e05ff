/**
 * Baseline for ws-bench: a bare uWebSockets.js echo of heartbeats, the floor
 * the gateway's heartbeat is compared with (issue 17: "measured beside a bare
 * uWebSockets.js echo server, no Valkey, no JWT work after the upgrade").
 *
 *   upgrade  jsonwebtoken HS256 verify of the Bearer (or ?access_token=), the
 *            key a KeyObject like the gateway's, `typ` must be "mitra"; no
 *            Valkey (no revocation check); 401 without a socket otherwise;
 *   open     a small hello frame (both servers are timed to the same point);
 *   message  JSON.parse, then `{"type":"ack","id":N}` for a heartbeat at once
 *            (`error` frames for anything else). Nothing is stored anywhere.
 *
 * Same uWS options as the gateway's endpoint (16 KiB frames, idleTimeout 60,
 * automatic pings). GET /stats answers {cpuUs, rssBytes, heapBytes, sockets,
 * loopP99Ms, loopMaxMs}: the event-loop delay since the previous /stats, read
 * as the gateway's prom-client gauges are (a 10 ms resolution histogram, reset
 * by each read), so the soak can print both side by side.
 *
 *   AUTH_JWT_SECRET=… node bench/baselines/echo-ws.mjs
 */

import uWS from "uWebSockets.js";
import { createSecretKey } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import jwt from "jsonwebtoken";

const secret = process.env.AUTH_JWT_SECRET ?? "bench-secret-bench-secret-bench-secret-0";
const key = createSecretKey(Buffer.from(secret, "utf8"));

let sockets = 0;
// prom-client's default eventLoopMonitoringPrecision.
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

uWS
  .App()
  .ws("/ws", {
    maxPayloadLength: 16 * 1024,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const token =
        /^Bearer\s+(\S+)\s*$/i.exec(req.getHeader("authorization"))?.[1] ??
        (new URLSearchParams(req.getQuery() ?? "").get("access_token") || undefined);
      let claims;
      try {
        claims = jwt.verify(token ?? "", key, { algorithms: ["HS256"] });
      } catch {
        return void res.writeStatus("401 Unauthorized").end();
      }
      if (claims.typ !== "mitra" || typeof claims.sub !== "string")
        return void res.writeStatus("401 Unauthorized").end();
      res.upgrade(
        { id: claims.sub, sid: claims.sid, closed: false },
        req.getHeader("sec-websocket-key"),
        req.getHeader("sec-websocket-protocol"),
        req.getHeader("sec-websocket-extensions"),
        context,
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
      ws.send(JSON.stringify({ type: "ack", id: frame.id }));
    },
    close: (ws) => {
      sockets--;
      ws.getUserData().closed = true;
    },
  })
  .get("/stats", (res) => {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    const body = JSON.stringify({
      cpuUs: cpu.user + cpu.system,
      rssBytes: mem.rss,
      heapBytes: mem.heapUsed,
      sockets,
      loopP99Ms: loopDelay.percentile(99) / 1e6,
      loopMaxMs: loopDelay.max / 1e6,
    });
    loopDelay.reset();
    res.writeHeader("content-type", "application/json").end(body);
  })
  .listen("127.0.0.1", Number(process.env.PORT ?? 0), (token) => {
    if (!token) {
      process.stderr.write("cannot listen\n");
      process.exit(1);
    }
    process.stdout.write(`${JSON.stringify({ listening: true, port: uWS.us_socket_local_port(token) })}\n`);
  });

for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(0));
