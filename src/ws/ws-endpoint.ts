import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t } from "uWebSockets.js";
import type { UserType } from "../auth/user-types.js";
import { AppError } from "../errors.js";
import { isSameOrigin } from "../http/cors.js";
import { errorResponse } from "../http/error-response.js";
import { writeResponse } from "../http/serve.js";
import type { Logger } from "../log.js";
import type { Services } from "../services.js";
import { badFrame, errorFrame } from "./frame-errors.js";
import { type AckBody, handleFrame, heartbeatNow, readableId } from "./frame-handlers.js";
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
  /** Origins allowed besides the listener's own; an upgrade from any other present Origin is refused 403. */
  allowedOrigins?: ReadonlySet<string>;
}

/**
 * Mounts one authenticated WebSocket endpoint (contract §4). The upgrade is
 * refused with HTTP 401 before any socket exists unless the access token
 * (Authorization: Bearer, or ?access_token=) is valid, of an allowed type and
 * not revoked. The token never reaches a log line.
 */
export function mountWsEndpoint(app: TemplatedApp, s: Services, hub: SocketHub, opts: EndpointOptions): void {
  const log: Logger = s.log;
  const upgrades = new UpgradeQueue(() => hub.anyOpen());
  app.ws<SocketData>(opts.path, {
    maxPayloadLength: TRANSPORT_MAX_FRAME_BYTES,
    // One frame above our own hard limit: the hub checks after every send and publish, so it is us
    // who close a slow reader, and the 4009 close frame still fits (above this uWS drops it too).
    maxBackpressure: HARD_BACKPRESSURE + 64 * 1024,
    closeOnBackpressureLimit: 0,
    idleTimeout: 60,
    sendPingsAutomatically: true,

    upgrade: (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => {
      // RFC 6455 §4.2.1: an opening handshake names `upgrade` in Connection. Without it
      // (e.g. `Connection: close`) uWS marks the HTTP connection to be closed once the
      // response ends, and with our build it then closes the fresh WebSocket (docs/websocket.md).
      if (!hasUpgradeToken(req.getHeader("connection")))
        return refuse(
          res,
          new AppError("BAD_UPGRADE", 400, "A WebSocket upgrade needs `Connection: Upgrade`"),
        );
      const origin = req.getHeader("origin");
      if (
        opts.allowedOrigins &&
        origin &&
        !opts.allowedOrigins.has(origin) &&
        !isSameOrigin(origin, req.getHeader("host"))
      )
        return refuse(res, new AppError("FORBIDDEN", 403, "This origin may not open this socket"));
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
            active: false,
            pending: 0,
            bucket: newBucket(Date.now()),
          };
          upgrades.push({
            res,
            aborted: () => aborted,
            upgrade: () => res.upgrade(data, key, protocol, extensions, context),
          });
        },
        (err: unknown) => {
          if (!aborted) res.cork(() => refuse(res, err));
        },
      );
    },

    open: (ws: Ws) => {
      upgrades.opened(ws);
      // Nothing else happens inside `open`: it runs inside the upgrade (and inside another
      // socket's cork, UpgradeQueue), where uWS.js also drains the microtask queue; with the
      // plain cork, whatever was allocated there (a topic subscription) could make uWS close
      // the new socket without a close frame (uWebSockets.js#1108, uWebSockets#1928,
      // docs/websocket.md). The socket is activated on the next loop turn, corked there, or
      // by its first frame, whichever comes first.
      setImmediate(() => ws.getUserData().closed || ws.cork(() => activate(ws)));
    },

    message: (ws: Ws, message: ArrayBuffer, isBinary: boolean) => {
      const d = ws.getUserData();
      if (!d.active) activate(ws);
      if (message.byteLength > MAX_FRAME_BYTES) return hub.close(ws, CLOSE.tooBig, "frame too big");
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
        s.metrics.wsFramesIn.inc("bad");
        const e = err instanceof AppError ? err : badFrame("Invalid JSON");
        return hub.send(ws, "error", errorFrame(e, undefined, log));
      }
      const obj = value as Record<string, unknown>;
      const id = readableId(obj);
      const type = typeof obj.type === "string" ? obj.type : "";
      s.metrics.wsFramesIn.inc(type || "untyped");
      // Counted until answered: at shutdown the socket closes (1001) only after its answers went out.
      d.pending++;
      const frame = { id, type, value: obj };
      if (heartbeatNow(s, d, frame)) {
        if (id !== undefined) hub.send(ws, "ack", ackOf(id));
        return hub.answered(ws);
      }
      handleFrame(s, { data: d, moveSid: (sid) => hub.moveSid(ws, sid) }, frame).then(
        (ack) => {
          if (id !== undefined) hub.send(ws, "ack", ackOf(id, ack));
          hub.answered(ws);
        },
        (err: unknown) => {
          hub.send(ws, "error", errorFrame(err, id, log));
          hub.answered(ws);
        },
      );
    },

    drain: (ws: Ws) => hub.drained(ws),

    close: (ws: Ws) => {
      upgrades.closed(ws);
      hub.unregister(ws);
    },
  });

  /** An upgrade refused with the usual JSON error and no socket. */
  function refuse(res: HttpResponse, err: unknown): void {
    writeResponse(res, errorResponse(err, log, "ws-upgrade"), "ws-upgrade", false, true);
  }

  /** Registers the socket (revocation, fan-out topics), then sends hello and the greeting frames; once. */
  function activate(ws: Ws): void {
    const d = ws.getUserData();
    if (d.active || d.closed) return;
    d.active = true;
    hub.register(ws);
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
  }
}

/**
 * Upgrades whose token check finished, run from a macrotask with nothing else
 * queued, each corked so that uWS's own cork never looks at the socket after
 * the upgrade.
 *
 * `res.cork(() => res.upgrade(…))` is what uWS.js asks for, but in our build
 * that cork, once its callback returns, can read the upgraded socket's memory
 * as if it were still the HTTP response and close the new WebSocket without a
 * close frame (uNetworking/uWebSockets#1929, docs/websocket.md); measured: 2
 * of 5 runs of the 20-round, 50-mitra pairing test on a Valkey Cluster lost a
 * socket that way. Called while ANOTHER socket holds the loop's cork (any open
 * WebSocket of this process), `res.cork` only runs its callback: the upgrade
 * writes its 101 straight to the socket and nothing reads the old response
 * afterwards; uWS.js still sees a cork callback, so it prints no "writes must
 * be corked" warning. The lender is any open socket of the process, else one
 * this same batch just opened; with none at all (the first socket of an idle
 * process) the upgrade runs uncorked, as safe, at the price of that warning
 * line on stderr (the plain cork there still lost a first socket to a 1006
 * in a cluster suite run: test/pairing-redelivery.test.ts).
 *
 * From a macrotask: uWS.js drains the microtask queue at the end of `open`;
 * run from a promise continuation, every continuation queued behind it
 * (other upgrades, Valkey and Postgres replies) ran inside the upgrade.
 */
interface PendingUpgrade {
  res: HttpResponse;
  aborted: () => boolean;
  upgrade: () => void;
}

/**
 * Upgrades run in one loop turn at most; a burst goes over several turns,
 * heartbeats answered between. 8 cost a third of the connect rate (ws-bench:
 * 965 against 1,361 upgrades/s uncapped); 32 measured the same as uncapped
 * (1,357 and 1,365/s) and still bounds a turn to ~10–15 ms of upgrades.
 */
const UPGRADES_PER_TURN = 32;

class UpgradeQueue {
  private queue: PendingUpgrade[] = [];
  private scheduled = false;
  private draining = false;
  private justOpened: Ws | undefined;

  constructor(private readonly donor: () => Ws | undefined) {}

  push(p: PendingUpgrade): void {
    this.queue.push(p);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.drain());
  }

  /** From `open`: a socket this drain just opened can lend its cork to the rest of the batch. */
  opened(ws: Ws): void {
    if (this.draining) this.justOpened = ws;
  }

  /** From `close`: a socket closed already cannot lend its cork (uWS.js throws on a closed socket). */
  closed(ws: Ws): void {
    if (this.justOpened === ws) this.justOpened = undefined;
  }

  private drain(): void {
    // At most UPGRADES_PER_TURN, the rest on the next turn: an upgrade costs the loop 0.3–0.5 ms
    // (the 101, the socket's set-up, its activation), and a whole burst of reconnects done in one
    // turn held every heartbeat of the process behind it (docs/websocket.md).
    const batch = this.queue.splice(0, UPGRADES_PER_TURN);
    this.draining = true;
    this.justOpened = undefined;
    try {
      for (const { res, aborted, upgrade } of batch) {
        if (aborted()) continue; // the client went away meanwhile: res may not be touched
        const other = this.donor() ?? this.justOpened;
        if (other) other.cork(() => res.cork(upgrade));
        // No socket open anywhere in the process: uncorked. Safe (nothing checks the response
        // afterwards), but uWS.js prints a "writes must be corked" line to stderr for it.
        else upgrade();
      }
    } finally {
      this.draining = false;
      this.justOpened = undefined;
      // Queued behind the activations of this batch, whose sockets can then lend their cork.
      this.scheduled = this.queue.length > 0;
      if (this.scheduled) setImmediate(() => this.drain());
    }
  }
}

/** `{"type":"ack","id":…}` plus the use case's answer; with none (a heartbeat's) built without an object. */
function ackOf(id: string | number, answer?: AckBody): string {
  return answer
    ? JSON.stringify({ type: "ack", id, ...answer })
    : `{"type":"ack","id":${JSON.stringify(id)}}`;
}

/** Whether a Connection header lists the `upgrade` token (case-insensitive, comma list). */
export function hasUpgradeToken(connection: string): boolean {
  return connection.split(",").some((t) => t.trim().toLowerCase() === "upgrade");
}
