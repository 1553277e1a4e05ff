import { type AuthOptions, HaloAuth } from "./auth.js";
import { Conversation, type ConversationOptions } from "./conversation.js";
import { HaloError } from "./errors.js";
import { type FetchLike, HaloHttp } from "./http.js";
import { PairingAttempt } from "./pairing.js";
import type { ChatSession } from "./protocol.js";
import { PushDevices } from "./push.js";
import { retrying } from "./retry.js";
import { SessionsApi } from "./sessions.js";
import { HaloSocket, type SocketOptions } from "./socket.js";
import type { PushDevice, TokenStore } from "./token-store.js";
import type { WebSocketFactory } from "./transport.js";

/** Session endings that mean "revoked" (by a logout elsewhere, an operator, or a detected token theft). */
const REVOCATIONS: ReadonlySet<string> = new Set(["SESSION_REVOKED", "REFRESH_REUSED"]);

export interface ClientOptions {
  /** The gateway's public listener, e.g. `https://api.example.com` (the socket is `…/ws`). */
  baseUrl: string;
  /** Where tokens live (default: memory). */
  store?: TokenStore;
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** Default: the global WebSocket (the Node entry passes `ws`). */
  webSocket?: WebSocketFactory;
  /** HTTP timeout per request (default 15 s). */
  httpTimeoutMs?: number;
  auth?: Omit<AuthOptions, "http" | "store">;
  socket?: Omit<SocketOptions, "url" | "auth" | "webSocket">;
}

/**
 * Everything an app needs, wired once: `auth` (sign-in, refresh, logout),
 * `socket` (the reconnecting WebSocket and its events), `sessions` (HTTP
 * routes of chat sessions), pairing and conversations.
 */
export class HaloClient {
  readonly http: HaloHttp;
  readonly auth: HaloAuth;
  readonly socket: HaloSocket;
  readonly sessions: SessionsApi;
  private readonly pushDevices: PushDevices;
  /** What resumeFromPush catches up: the conversations not closed and the attempts not settled. */
  private readonly conversations = new Set<Conversation>();
  private readonly attempts = new Set<PairingAttempt>();

  constructor(opts: ClientOptions) {
    this.http = new HaloHttp({
      baseUrl: opts.baseUrl,
      ...(opts.fetch ? { fetch: opts.fetch } : {}),
      ...(opts.httpTimeoutMs ? { timeoutMs: opts.httpTimeoutMs } : {}),
    });
    this.auth = new HaloAuth({ ...opts.auth, http: this.http, ...(opts.store ? { store: opts.store } : {}) });
    this.socket = new HaloSocket({
      ...opts.socket,
      url: opts.baseUrl,
      auth: this.auth,
      ...(opts.webSocket ? { webSocket: opts.webSocket } : {}),
    });
    this.sessions = new SessionsApi(this.auth);
    this.pushDevices = new PushDevices(this.auth, this.socket);
    // A session that ended anywhere (logout, a refresh refused, a revocation seen over HTTP) stops the socket.
    this.auth.on("signedOut", (s) => this.socket.close(REVOCATIONS.has(s.reason) ? "REVOKED" : "SIGNED_OUT"));
  }

  /** Customers: asks for a mitra (`pairing.request` with an idempotency key kept for this intent). */
  requestPairing(opts: { idempotencyKey?: string; recheckEveryMs?: number } = {}): PairingAttempt {
    const attempt = new PairingAttempt(this.socket, this.sessions, opts);
    this.attempts.add(attempt);
    const drop = () => this.attempts.delete(attempt);
    attempt.result.then(drop, drop);
    return attempt;
  }

  /** Mitras: takes an offer; resolves with the new session's id (error PAIRING_TAKEN or AT_CAPACITY otherwise). */
  async acceptOffer(offer: string | { requestId: string; expiresAt: string }): Promise<string> {
    if (typeof offer === "string") return this.acceptOnce(offer);
    // Given the offer itself, a failure worth retrying (the server's store or this socket briefly
    // gone) is retried until the offer expires, as a user would tap again: accepting is idempotent
    // for the same mitra, so a retry after a lost answer returns the same session.
    return retrying(() => this.acceptOnce(offer.requestId), {
      withinMs: Math.max(0, Date.parse(offer.expiresAt) - Date.now()),
      cancelled: () => this.socket.state === "stopped",
    });
  }

  private async acceptOnce(requestId: string): Promise<string> {
    try {
      return (await this.socket.request("pairing.accept", { requestId })).sessionId;
    } catch (err) {
      // Taken by a racing accept that may still fail and give it back: if the gateway then offers it
      // again, the app hears it again.
      if (err instanceof HaloError && err.code === "PAIRING_TAKEN") this.socket.forgetOffer(requestId);
      throw err;
    }
  }

  /** Mitras: turns an offer down; it goes to the next mitra. */
  async declineOffer(requestId: string): Promise<void> {
    await this.socket.request("pairing.decline", { requestId });
  }

  /** The conversation of one chat session: outbox, catch-up, every message once and in order. */
  conversation(sessionId: string, opts: ConversationOptions = {}): Conversation {
    for (const c of this.conversations) if (c.isClosed) this.conversations.delete(c);
    const conversation = new Conversation(this.socket, this.sessions, sessionId, opts);
    this.conversations.add(conversation);
    return conversation;
  }

  // ---- push (contract §11) -------------------------------------------------------------------------

  /**
   * Registers this device's push token (from FCM) for the signed-in session,
   * so that what reaches the user while the app has no socket comes as a
   * push. Call it after sign-in and whenever the push library hands out a new
   * token; the same token again is harmless. The token is kept with the
   * session: it survives refreshes, is registered again for a session that
   * replaces this one (linking an anonymous customer), and is forgotten —
   * never re-registered — once the session ends (logout removes it on the
   * gateway). A failure on the way is retried on the socket's next `hello`.
   */
  registerDevice(device: PushDevice): Promise<void> {
    return this.pushDevices.register(device);
  }

  /** Stops pushes to this device for this session (e.g. the user turned notifications off). */
  unregisterDevice(): Promise<void> {
    return this.pushDevices.unregister();
  }

  /**
   * For an app brought to the foreground by a push: makes the socket live
   * (started, or its backoff skipped, or a connection that slept probed and
   * replaced) and waits for its `hello`, then catches up what the push
   * announced — `data` is the push's data (`type` and `requestId`,
   * `sessionId` or `messageId`); without it, everything:
   *
   * - `chat.message`, `session.updated`: the open conversations of
   *   `sessionId` (all of them when the push names none) read the log after
   *   their last message, as on any reconnect; each message is emitted once;
   * - `pairing.offer`: nothing more — the gateway sends a mitra's open offers
   *   again on the new socket's greeting, as `pairing.offer` events;
   * - `pairing.matched`: the customer's unsettled pairing attempts read their
   *   request's state.
   *
   * Resolves when those reads are done (a read that failed is retried by its
   * conversation, which emits `error`). Signed out, it does nothing.
   */
  async resumeFromPush(data: Record<string, string> = {}): Promise<void> {
    if (!(await this.auth.current())) return;
    await this.socket.awake();
    const { type, sessionId } = data;
    const reads: Promise<void>[] = [];
    if (type === undefined || type === "chat.message" || type === "session.updated") {
      for (const c of this.conversations) {
        if (c.isClosed) this.conversations.delete(c);
        else if (sessionId === undefined || c.sessionId === sessionId) reads.push(c.catchUp());
      }
    }
    if (type === undefined || type === "pairing.matched")
      for (const a of this.attempts) reads.push(a.recheck());
    await Promise.all(reads);
  }

  /** Mitras: goes online (HTTP; the socket's heartbeats then keep the mitra fresh). */
  async goOnline(): Promise<void> {
    await this.auth.call("POST", "/api/mitra/status/online");
  }

  async goOffline(): Promise<void> {
    await this.auth.call("POST", "/api/mitra/status/offline");
  }

  /** Public: how many mitras are available now. */
  availability(): Promise<{ available: number; asOf: string }> {
    return this.http.request("GET", "/api/client/availability");
  }

  /** Ends a session (either party) over the socket. */
  async endSession(sessionId: string): Promise<ChatSession> {
    return (await this.socket.request("session.end", { sessionId })).session;
  }

  /** Closes the socket for good (the tokens stay; `socket.connect()` starts again). */
  close(): void {
    this.socket.close();
  }
}

export function createHaloClient(opts: ClientOptions): HaloClient {
  return new HaloClient(opts);
}
