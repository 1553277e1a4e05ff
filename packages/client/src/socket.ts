import type { AccessToken, AccessTokenSource } from "./auth.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import { reactionTo, type StopReason } from "./close-reaction.js";
import { type Connection, clearTimers, detach, isSessionOver, later, newConnection } from "./connection.js";
import { Emitter } from "./emitter.js";
import { ClientCode, errorFromBody, HaloError } from "./errors.js";
import { FrameBudget } from "./frame-budget.js";
import {
  type ClientFrames,
  type ClientFrameType,
  CloseCode,
  type ErrorFrame,
  type HelloFrame,
  type ServerEvents,
} from "./protocol.js";
import { type Answer, RequestTable } from "./requests.js";
import { SeenOffers } from "./seen-offers.js";
import {
  frameText,
  globalWebSocketFactory,
  socketUrl,
  upgradeStatusOf,
  type WebSocketFactory,
  type WebSocketLike,
} from "./transport.js";
import { probeOnce, startUpkeep, type UpkeepPort } from "./upkeep.js";

export interface SocketOptions {
  /** `ws(s)://host/ws`, or the public `http(s)://` base (then `/ws` is added). */
  url: string;
  /** Where access tokens come from: a HaloAuth, or the app's own. */
  auth: AccessTokenSource;
  /** Opens the WebSocket; default the global one (the Node entry passes `ws`). */
  webSocket?: WebSocketFactory;
  /** How long a frame waits for its ack (default 10 s). */
  requestTimeoutMs?: number;
  /** How long a connection may take to say `hello` (default 10 s). */
  connectTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Send `heartbeat` every `heartbeatIntervalSeconds` (default: when the user is a mitra). */
  heartbeat?: boolean;
  /** Probe a connection that has been silent this long (default 30 s; 0 = never). */
  idleProbeMs?: number;
  /** Swap in a fresh token in-band this long before the access token expires (default 60 s, at most half its life). */
  refreshAheadSeconds?: number;
  /** Frames per second this socket sends at most (default 40, bursts of 80; the gateway allows 50 and 100). */
  maxFramesPerSecond?: number;
  frameBurst?: number;
  /** Epoch ms. */
  now?: () => number;
  /** In [0, 1): the jitter's source. */
  random?: () => number;
}

export type SocketState = "idle" | "connecting" | "open" | "waiting" | "stopped";

export interface SocketEvents extends ServerEvents {
  state: SocketState;
  /** A connection closed; `retryInMs` is null when the socket stops instead. */
  disconnected: { code: number; reason: string; retryInMs: number | null };
  /** The socket stopped and will not reconnect. */
  stopped: { reason: StopReason; error?: HaloError };
  /** A heartbeat the gateway acknowledged (mitras). */
  heartbeat: { at: number };
  /** An `error` frame that answers no frame of ours, or a heartbeat refused. */
  error: HaloError;
  /** Every frame the server sent, as parsed JSON. */
  frame: { type: string } & Record<string, unknown>;
}

/**
 * One logical connection to the gateway that survives the network: it
 * reconnects with exponential backoff and full jitter, reacting to each close
 * code as `reactionTo` (close-reaction.ts) says, and keeps each connection
 * alive and authorized (upkeep.ts: heartbeats for mitras, a probe of a
 * silent connection, the in-band refresh). Frames wait for the connection and
 * leave within the gateway's rate limit.
 */
export class HaloSocket extends Emitter<SocketEvents> {
  readonly url: string;
  private readonly auth: AccessTokenSource;
  private readonly factory: WebSocketFactory;
  private readonly requestTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly heartbeatOption: boolean | undefined;
  private readonly idleProbeMs: number;
  private readonly refreshAheadMs: number;
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly requests = new RequestTable();
  private readonly budget: FrameBudget;
  private readonly upkeepPort: UpkeepPort;
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private conn: Connection | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private runId = 0;
  private currentState: SocketState = "idle";
  private lastHello: HelloFrame | null = null;
  private readonly seenOffers = new SeenOffers();
  /** Connection attempts made (sockets opened or tried). */
  connectAttempts = 0;

  constructor(opts: SocketOptions) {
    super();
    this.url = socketUrl(opts.url);
    this.auth = opts.auth;
    this.factory = opts.webSocket ?? globalWebSocketFactory;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.heartbeatOption = opts.heartbeat;
    this.idleProbeMs = opts.idleProbeMs ?? 30_000;
    this.refreshAheadMs = (opts.refreshAheadSeconds ?? 60) * 1000;
    this.now = opts.now ?? Date.now;
    this.backoff = new Backoff(opts.backoff, opts.random);
    this.budget = new FrameBudget(opts.maxFramesPerSecond ?? 40, opts.frameBurst ?? 80, this.now);
    this.upkeepPort = {
      auth: this.auth,
      now: this.now,
      requestTimeoutMs: this.requestTimeoutMs,
      request: (type, fields, o) => this.request(type, fields, o),
      isCurrent: (conn) => this.conn === conn,
      drop: (conn, reason) => this.abandon(conn, reason),
      sessionOver: (err) => this.halt("SIGNED_OUT", err),
      heartbeatAcked: () => this.emit("heartbeat", { at: this.now() }),
      reportError: (err) => this.emit("error", err),
    };
  }

  get state(): SocketState {
    return this.currentState;
  }

  /** The `hello` of the current connection (null while not open). */
  get hello(): HelloFrame | null {
    return this.conn?.hello ?? null;
  }

  /** The `hello` of the last connection that opened. */
  get lastKnownHello(): HelloFrame | null {
    return this.lastHello;
  }

  /** Starts connecting (and reconnecting) until stop(). Resolves with the first `hello`. */
  connect(): Promise<HelloFrame> {
    const first = new Promise<HelloFrame>((resolve, reject) => {
      if (this.conn?.hello) return resolve(this.conn.hello);
      const offHello = this.once("hello", (h) => {
        offStopped();
        resolve(h);
      });
      const offStopped = this.once("stopped", (s) => {
        offHello();
        reject(s.error ?? new HaloError(ClientCode.closed, `The socket stopped (${s.reason})`));
      });
    });
    if (this.currentState === "idle" || this.currentState === "stopped") {
      this.runId++;
      this.backoff.reset();
      void this.open();
    }
    return first;
  }

  /** Closes for good (code 1000); pending frames fail with SOCKET_CLOSED. connect() starts it again. */
  close(reason: StopReason = "CLOSED"): void {
    this.halt(reason);
  }

  /** Skips the backoff wait (e.g. when the device's network comes back). */
  reconnectNow(): void {
    if (this.currentState !== "waiting") return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    void this.open();
  }

  /**
   * Open and answering, for an app back in the foreground: a stopped or idle
   * socket is started, one waiting to reconnect skips its backoff, and an
   * open one is probed — a connection that slept with the app may be dead
   * though it looks open — and replaced when it gives no answer within
   * `probeTimeoutMs` (default 3 s). Resolves with the `hello` of a connection
   * that answered or has just greeted; like connect(), it waits as long as
   * reconnecting takes.
   */
  async awake(opts: { probeTimeoutMs?: number } = {}): Promise<HelloFrame> {
    const conn = this.conn;
    if (conn?.hello && (await probeOnce(this.upkeepPort, conn, opts.probeTimeoutMs ?? 3000)))
      return conn.hello;
    const hello = this.connect();
    this.reconnectNow();
    return hello;
  }

  /**
   * Sends a frame and resolves with its ack's fields, or rejects with a
   * HaloError (the `error` frame's code, TIMEOUT, CONNECTION_LOST,
   * SOCKET_CLOSED). While the socket is down the frame waits for the next
   * connection, within its timeout.
   */
  request<T extends ClientFrameType>(
    type: T,
    fields: ClientFrames[T]["frame"],
    opts: { timeoutMs?: number } = {},
  ): Promise<ClientFrames[T]["ack"]> {
    return this.requestFrame({ ...fields, type }, opts) as Promise<ClientFrames[T]["ack"]>;
  }

  /** request() for any frame (the type is not checked). */
  requestFrame(
    frame: { type: string } & Record<string, unknown>,
    opts: { timeoutMs?: number } = {},
  ): Promise<Answer> {
    if (this.currentState === "stopped" || this.currentState === "idle")
      return Promise.reject(new HaloError(ClientCode.closed, "The socket is not started"));
    const { answer } = this.requests.create(frame, opts.timeoutMs ?? this.requestTimeoutMs);
    this.flush();
    return answer;
  }

  /** A `pairing.offer` of this request sent again is to be heard again (see SeenOffers). */
  forgetOffer(requestId: string): void {
    this.seenOffers.forget(requestId);
  }

  // ---- connecting ------------------------------------------------------------------------------

  /** Opens a connection with `fresh` (a token just refreshed) or one from the auth layer. */
  private async open(fresh?: AccessToken): Promise<void> {
    const run = this.runId;
    this.setState("connecting");
    let token: AccessToken;
    try {
      // The same threshold as the in-band refresh, and a refresh in flight is waited for:
      // a reconnect that races a refresh uses its result instead of starting a second one.
      token = fresh ?? (await this.auth.getAccessToken());
    } catch (err) {
      if (run !== this.runId || this.currentState === "stopped") return;
      if (isSessionOver(err)) return this.halt("SIGNED_OUT", err as HaloError);
      return this.retryLater(CloseCode.abnormal, "could not get an access token");
    }
    if (run !== this.runId || this.currentState === "stopped") return;
    this.connectAttempts++;
    let ws: WebSocketLike;
    try {
      ws = this.factory(this.url, token.token);
    } catch (err) {
      this.emit("error", new HaloError(ClientCode.network, String(err), { cause: err }));
      return this.retryLater(CloseCode.abnormal, "could not open a socket");
    }
    const conn = newConnection(ws, token, this.now());
    this.conn = conn;
    ws.onmessage = (ev) => this.onFrame(conn, ev.data);
    ws.onerror = (ev) => {
      conn.upgradeStatus ??= upgradeStatusOf(ev);
    };
    ws.onclose = (ev) => this.onClosed(conn, ev.code, ev.reason);
    later(conn, this.connectTimeoutMs, () => {
      if (!conn.hello) this.abandon(conn, "no hello in time");
    });
  }

  /** Drops a connection we gave up on without waiting for a closing handshake that may never come. */
  private abandon(conn: Connection, reason: string): void {
    if (this.conn !== conn) return;
    detach(conn);
    try {
      conn.ws.close(CloseCode.normal, reason);
    } catch {}
    this.onClosed(conn, CloseCode.abnormal, reason);
  }

  private onClosed(conn: Connection, code: number, reason: string): void {
    if (this.conn !== conn) return;
    clearTimers(conn);
    detach(conn);
    this.conn = null;
    this.requests.connectionLost();
    if (this.currentState === "stopped") return;
    if (conn.hello && this.now() - conn.openedAt >= this.backoff.stableAfterMs) this.backoff.reset();
    const reaction = reactionTo({
      code,
      revoked: conn.revoked,
      saidHello: conn.hello !== null,
      upgradeStatus: conn.upgradeStatus,
      failuresBefore: this.backoff.attempts,
    });
    if (reaction.kind === "stop") {
      if (reaction.reason === "REVOKED") this.auth.sessionRevoked?.();
      return this.halt(reaction.reason, undefined, { code, reason });
    }
    return this.retryLater(code, reason, {
      ...(reaction.first === "refresh" ? { refresh: conn.token } : {}),
      ...(reaction.first === "check" ? { check: conn.token } : {}),
      now: reaction.now,
    });
  }

  private retryLater(
    code: number,
    reason: string,
    then: { refresh?: AccessToken; check?: AccessToken; now?: boolean } = {},
  ): void {
    const delay = then.now ? 0 : this.backoff.next();
    this.setState("waiting");
    this.emit("disconnected", { code, reason, retryInMs: delay });
    const run = this.runId;
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      if (run !== this.runId || this.currentState !== "waiting") return;
      let fresh: AccessToken | undefined;
      try {
        if (then.check && this.auth.checkAccessToken) {
          const verdict = await this.auth.checkAccessToken(then.check.token);
          if (verdict === "ended") return this.halt("REVOKED");
          if (verdict === "expired") fresh = await this.auth.refreshAccessToken(then.check);
        } else if (then.refresh) {
          fresh = await this.auth.refreshAccessToken(then.refresh);
        }
      } catch (err) {
        if (run !== this.runId || this.currentState !== "waiting") return;
        if (isSessionOver(err)) return this.halt("SIGNED_OUT", err as HaloError);
        // Unreachable: try the socket anyway, its failure backs off.
      }
      if (run !== this.runId || this.currentState !== "waiting") return;
      void this.open(fresh);
    }, delay);
  }

  private halt(reason: StopReason, error?: HaloError, closed?: { code: number; reason: string }): void {
    if (this.currentState === "stopped") return;
    this.runId++;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    const conn = this.conn;
    if (conn) {
      clearTimers(conn);
      detach(conn);
      this.conn = null;
      try {
        conn.ws.close(CloseCode.normal, "client closed");
      } catch {}
    }
    this.setState("stopped");
    this.requests.failAll(error ?? new HaloError(ClientCode.closed, `The socket stopped (${reason})`));
    if (closed) this.emit("disconnected", { ...closed, retryInMs: null });
    this.emit("stopped", error ? { reason, error } : { reason });
  }

  // ---- an open connection ----------------------------------------------------------------------

  private onFrame(conn: Connection, data: unknown): void {
    if (this.conn !== conn) return;
    conn.lastFrameAt = this.now();
    const text = frameText(data);
    if (text === undefined) return;
    let frame: { type: string } & Record<string, unknown>;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame !== "object" || frame === null || typeof frame.type !== "string") return;
    this.emit("frame", frame);
    switch (frame.type) {
      case "hello":
        return this.onHello(conn, frame as unknown as HelloFrame);
      case "ack":
      case "error":
        if (!this.requests.answer(frame)) {
          if (frame.type === "error") this.emit("error", errorFromBody(frame as unknown as ErrorFrame));
        }
        return;
      case "revoked":
        conn.revoked = true;
        break;
      case "pairing.offer":
        if (typeof frame.requestId === "string" && !this.seenOffers.first(frame.requestId)) return;
        break;
    }
    this.emit(frame.type as keyof ServerEvents, frame as never);
  }

  private onHello(conn: Connection, hello: HelloFrame): void {
    conn.hello = hello;
    this.lastHello = hello;
    this.setState("open");
    startUpkeep(this.upkeepPort, conn, hello, {
      heartbeat: this.heartbeatOption ?? hello.userType === "mitra",
      idleProbeMs: this.idleProbeMs,
      refreshAheadMs: this.refreshAheadMs,
    });
    this.emit("hello", hello);
    this.flush();
  }

  /** Sends waiting frames, in the order they were made, once the connection has said hello. */
  private flush(): void {
    const conn = this.conn;
    if (!conn?.hello || this.flushTimer) return;
    for (const p of this.requests.unsent()) {
      const wait = this.budget.take();
      if (wait > 0) {
        this.flushTimer = setTimeout(() => {
          this.flushTimer = null;
          this.flush();
        }, wait);
        return;
      }
      try {
        conn.ws.send(JSON.stringify(p.frame));
      } catch {
        return; // closing: the close handler takes over
      }
      this.requests.markSent(p.id);
    }
  }

  private setState(state: SocketState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    this.emit("state", state);
  }
}
