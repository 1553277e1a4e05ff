import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t } from "uWebSockets.js";
import type { UserType } from "../auth/user-types.js";
import { AppError } from "../errors.js";
import { errorResponse } from "../http/error-response.js";
import { writeResponse } from "../http/serve.js";
import type { Logger } from "../log.js";
import type { Services } from "../services.js";
import { badFrame, errorFrame } from "./frame-errors.js";
import { handleFrame, readableId } from "./frame-handlers.js";
import { admit, newBucket } from "./rate-limit.js";
import type { SocketData } from "./socket-data.js";
import { CLOSE, HARD_BACKPRESSURE, type SocketHub, type Ws } from "./socket-hub.js";

/** Text frames of JSON, at most 16 KiB; bigger ones close the socket with 1009. */
export const MAX_FRAME_BYTES = 16 * 1024;
/**
 * What uWS itself accepts. Above its limit uWS drops the connection without a
 * close frame (the client sees 1006, measured), so it is set higher and the
 * 16 KiB rule is ours; beyond this the transport may cut (contract §4).
 */
const TRANSPORT_MAX_FRAME_BYTES = 64 * 1024;

export interface EndpointOptions {
  path: string;
  allowed: readonly UserType[];
  /** Frames sent right after hello (the current availability, or dashboard counts). */
  greet: (ws: Ws) => void;
}

/**
 * Mounts one authenticated WebSocket endpoint (contract §4). The upgrade is
 * refused with HTTP 401 before any socket exists unless the access token
 * (Authorization: Bearer, or ?access_token=) is valid, of an allowed type and
 * not revoked. The token never reaches a log line.
 */
export function mountWsEndpoint(app: TemplatedApp, s: Services, hub: SocketHub, opts: EndpointOptions): void {
  const log: Logger = s.log;
  app.ws<SocketData>(opts.path, {
    maxPayloadLength: TRANSPORT_MAX_FRAME_BYTES,
    // One frame above our own hard limit: the hub checks after every send and publish, so it is us
    // who close a slow reader, and the 4009 close frame still fits (above this uWS drops it too).
    maxBackpressure: HARD_BACKPRESSURE + 64 * 1024,
    closeOnBackpressureLimit: 0,
    idleTimeout: 60,
    sendPingsAutomatically: true,

    upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      // The request is valid only now: copy everything before the first await.
      const key = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      const auth = req.getHeader("authorization");
      const token =
        /^Bearer\s+(\S+)\s*$/i.exec(auth)?.[1] ??
        (new URLSearchParams(req.getQuery() ?? "").get("access_token") || undefined);
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      s.auth.authenticate(token, opts.allowed).then(
        (p) => {
          if (aborted) return;
          const data: SocketData = {
            userId: p.userId,
            userType: p.userType,
            sid: p.sid,
            exp: p.exp,
            closed: false,
            bucket: newBucket(Date.now()),
          };
          res.cork(() => res.upgrade(data, key, protocol, extensions, context));
        },
        (err: unknown) => {
          if (aborted) return;
          const r = errorResponse(err, log, "ws-upgrade");
          res.cork(() => writeResponse(res, r, "ws-upgrade", false, true));
        },
      );
    },

    open: (ws: Ws) => {
      hub.register(ws);
      const d = ws.getUserData();
      hub.send(
        ws,
        "hello",
        JSON.stringify({
          type: "hello",
          userId: d.userId,
          userType: d.userType,
          authSessionId: d.sid,
          heartbeatIntervalSeconds: Math.floor(s.config.HEARTBEAT_STALE_SECONDS / 3),
          accessExpiresAt: new Date(d.exp * 1000).toISOString(),
        }),
      );
      opts.greet(ws);
    },

    message: (ws: Ws, message: ArrayBuffer, isBinary: boolean) => {
      if (message.byteLength > MAX_FRAME_BYTES) return hub.close(ws, CLOSE.tooBig, "frame too big");
      const d = ws.getUserData();
      const admission = admit(d.bucket, Date.now());
      if (admission !== "ok") {
        s.metrics.wsRateLimited.inc();
        if (admission === "close") return hub.close(ws, CLOSE.rateLimited, "rate limit");
        if (admission === "refused-tell") {
          const err = new AppError("RATE_LIMITED", 429, "Too many frames", { retryAfterSeconds: 1 });
          hub.send(ws, "error", errorFrame(err, undefined, log));
        }
        return;
      }
      let value: unknown;
      try {
        if (isBinary) throw badFrame("Binary frames are not accepted");
        value = JSON.parse(Buffer.from(message).toString("utf8"));
        if (typeof value !== "object" || value === null || Array.isArray(value))
          throw badFrame("A frame is a JSON object");
      } catch (err) {
        s.metrics.wsFramesIn.inc({ type: "bad" });
        const e = err instanceof AppError ? err : badFrame("Invalid JSON");
        return hub.send(ws, "error", errorFrame(e, undefined, log));
      }
      const obj = value as Record<string, unknown>;
      const id = readableId(obj);
      const type = typeof obj.type === "string" ? obj.type : "";
      s.metrics.wsFramesIn.inc({ type: type.length <= 32 ? type || "untyped" : "long" });
      handleFrame(s, { data: d, moveSid: (sid) => hub.moveSid(ws, sid) }, { id, type, value: obj }).then(
        (ack) => {
          if (id !== undefined) hub.send(ws, "ack", JSON.stringify({ type: "ack", id, ...ack }));
        },
        (err: unknown) => hub.send(ws, "error", errorFrame(err, id, log)),
      );
    },

    drain: (ws: Ws) => hub.drained(ws),

    close: (ws: Ws) => hub.unregister(ws),
  });
}
