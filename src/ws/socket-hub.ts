import type { TemplatedApp, WebSocket } from "uWebSockets.js";
import type { UserType } from "../auth/user-types.js";
import type { Metrics } from "../metrics.js";
import { CLOSE_CODES } from "../protocol/index.js";
import { ABUSIVE_SECONDS } from "./rate-limit.js";
import type { SocketData } from "./socket-data.js";
import { groupOf, topicOf } from "./topics.js";

export type Ws = WebSocket<SocketData>;

/** Above this many buffered bytes, latest-only frames replace each other instead of queueing. */
export const SOFT_BACKPRESSURE = 64 * 1024;
/** Above this, the socket is closed with 4009: the client reconnects and catches up. */
export const HARD_BACKPRESSURE = 1024 * 1024;

export const CLOSE = CLOSE_CODES;

/** The housekeeping pass over every socket is spread over this many ticks a second. */
const HOUSEKEEPING_SLICES = 10;

/**
 * This process's sockets: registration by auth session (to close revoked
 * ones), safe sends with backpressure rules, and one housekeeping tick a
 * second for all of them (token expiry, slow readers) instead of a timer each.
 */
export class SocketHub {
  private readonly sockets = new Set<Ws>();
  private readonly bySid = new SocketIndex();
  /** This process's subscribers of each topic, to check their buffers after a publish. */
  private readonly byTopic = new SocketIndex();
  private readonly apps: TemplatedApp[] = [];
  private readonly perType = new Map<UserType, number>();
  private tick: NodeJS.Timeout | undefined;
  /** Where the housekeeping pass over the sockets stands. */
  private pass: Iterator<Ws> = this.sockets.values();
  /**
   * Told when a user's first socket on this process opens and its last one
   * closes (push reachability, src/push/reachability.ts): once per user, not
   * per socket or per frame.
   */
  onUserPresence: ((userType: UserType, userId: string, present: boolean) => void) | undefined;
  /** Set by a graceful close: sockets close as soon as their taken frames are answered. */
  private draining: { code: number; reason: string; done: () => void } | undefined;

  constructor(
    private readonly metrics: Metrics,
    private readonly nowMs: () => number,
  ) {}

  addApp(app: TemplatedApp): void {
    this.apps.push(app);
  }

  start(): void {
    this.tick = setInterval(() => this.housekeeping(), 1000 / HOUSEKEEPING_SLICES);
    this.tick.unref();
  }

  stop(): void {
    if (this.tick) clearInterval(this.tick);
  }

  get size(): number {
    return this.sockets.size;
  }

  /** Any registered (open) socket, or undefined: the upgrade borrows its cork (ws-endpoint.ts). */
  anyOpen(): Ws | undefined {
    for (const ws of this.sockets) return ws;
    return undefined;
  }

  register(ws: Ws): void {
    const d = ws.getUserData();
    this.sockets.add(ws);
    this.indexSid(ws, d.sid);
    const { user, group } = topicsOf(d);
    // A user's own topic is not a uWS topic: as one it cost ~0.42 KiB per socket (a topic of its own in
    // uWS's tree, measured on 8,000 sockets: 1.49 vs 1.07 KiB each), for one or two subscribers.
    const first = !this.byTopic.has(user);
    this.byTopic.add(user, ws);
    if (first) this.onUserPresence?.(d.userType, d.userId, true);
    ws.subscribe(group);
    this.byTopic.add(group, ws);
    this.metrics.sockets.inc({ user_type: d.userType });
    this.perType.set(d.userType, (this.perType.get(d.userType) ?? 0) + 1);
  }

  unregister(ws: Ws): void {
    const d = ws.getUserData();
    d.closed = true;
    if (!this.sockets.delete(ws)) return;
    this.unindexSid(ws, d.sid);
    const { user, group } = topicsOf(d);
    this.byTopic.delete(user, ws);
    this.byTopic.delete(group, ws);
    if (!this.byTopic.has(user)) this.onUserPresence?.(d.userType, d.userId, false);
    this.metrics.sockets.dec({ user_type: d.userType });
    this.perType.set(d.userType, (this.perType.get(d.userType) ?? 1) - 1);
  }

  /** After auth.refresh: the socket now speaks for another auth session of the same user. */
  moveSid(ws: Ws, sid: string): void {
    const d = ws.getUserData();
    if (d.sid === sid) return;
    this.unindexSid(ws, d.sid);
    d.sid = sid;
    this.indexSid(ws, sid);
  }

  /** Sends a frame; closes the socket (4009) if its buffer passed the hard limit. */
  send(ws: Ws, type: string, frame: string): void {
    const d = ws.getUserData();
    if (d.closed) return;
    ws.send(frame);
    this.metrics.wsFramesOut.inc(type);
    if (ws.getBufferedAmount() > HARD_BACKPRESSURE) this.close(ws, CLOSE.slowReader, "slow reader");
  }

  /**
   * For frames where only the newest matters (availability, dashboard counts):
   * never queued behind a slow reader, and pushed "on change" per socket —
   * `version` (the frame itself by default) says what changed, and a socket
   * already sent (or holding) that version gets nothing, e.g. the broadcast
   * right after the greeting that carried the same count.
   */
  sendLatest(ws: Ws, type: string, frame: string, version = frame): void {
    const d = ws.getUserData();
    if (d.closed) return;
    d.latest ??= {};
    if (d.latest[type] === version) return;
    d.latest[type] = version;
    if (ws.getBufferedAmount() > SOFT_BACKPRESSURE) {
      if (d.held?.has(type)) this.metrics.wsBackpressure.inc({ action: "replaced" });
      if (!d.held) d.held = new Map();
      d.held.set(type, frame);
      return;
    }
    this.send(ws, type, frame);
  }

  /** uWS drain: the buffer shrank; send what was held back. */
  drained(ws: Ws): void {
    const d = ws.getUserData();
    if (!d.held || d.closed) return;
    for (const [type, frame] of d.held) {
      if (ws.getBufferedAmount() > SOFT_BACKPRESSURE) return;
      d.held.delete(type);
      this.send(ws, type, frame);
    }
    if (d.held.size === 0) d.held = undefined;
  }

  close(ws: Ws, code: number, reason: string): void {
    const d = ws.getUserData();
    if (d.closed) return;
    if (code === CLOSE.slowReader) this.metrics.wsBackpressure.inc({ action: "closed" });
    this.unregister(ws);
    ws.end(code, reason);
  }

  /** Sends `frame` to every socket of these user types (latest-only), e.g. availability to customers. */
  broadcastLatest(userType: UserType, type: string, frame: string, version = frame): void {
    for (const ws of this.sockets)
      if (ws.getUserData().userType === userType) this.sendLatest(ws, type, frame, version);
  }

  /** The distinct users of this type with a socket here (to send them what they may have missed). */
  usersOf(userType: UserType): string[] {
    const ids = new Set<string>();
    for (const ws of this.sockets) {
      const d = ws.getUserData();
      if (d.userType === userType) ids.add(d.userId);
    }
    return [...ids];
  }

  /** Sends `frame` to this process's sockets of one user, without the cross-process fan-out. */
  sendToUser(userType: UserType, userId: string, frame: string): void {
    this.publish(topicOf({ kind: "user", userType, userId }), frame);
  }

  /** Whether this user has a socket on this process. */
  hasUser(userType: UserType, userId: string): boolean {
    return this.byTopic.has(topicOf({ kind: "user", userType, userId }));
  }

  countOf(userType: UserType): number {
    return this.perType.get(userType) ?? 0;
  }

  /**
   * Hands a frame to every socket subscribed to `topic`: a group's through
   * uWS topics on every app (no loop over thousands of sockets to send), a
   * user's by a send to each of its sockets. uWS writes a publish into each
   * buffer at once, so the subscribers' buffers are checked right after: a
   * slow reader is closed with 4009 while its close frame still fits under
   * uWS's maxBackpressure. Left to the 1 s tick, a flood overshoots that
   * limit, uWS silently drops the frames and the close frame too (the
   * client saw 1006, and could miss frames without any close).
   */
  publish(topic: string, frame: string): void {
    const subscribers = this.byTopic.get(topic);
    if (!UWS_TOPICS.has(topic)) {
      // A user's topic: its few sockets are sent to directly (send checks each buffer).
      for (const ws of subscribers) this.send(ws, "fanout", frame);
      return;
    }
    for (const app of this.apps) app.publish(topic, frame);
    if (subscribers.length === 0) return;
    this.metrics.wsFramesOut.inc("fanout", subscribers.length);
    for (const ws of subscribers)
      if (ws.getBufferedAmount() > HARD_BACKPRESSURE) this.close(ws, CLOSE.slowReader, "slow reader");
  }

  /** Revoked auth sessions: `revoked`, then close 4003 (contract §2, §4). */
  revoke(sids: readonly string[]): void {
    for (const sid of sids) {
      for (const ws of this.bySid.get(sid)) {
        this.send(ws, "revoked", '{"type":"revoked"}');
        this.close(ws, CLOSE.revoked, "session revoked");
      }
    }
  }

  closeAll(code: number, reason: string): void {
    for (const ws of [...this.sockets]) this.close(ws, code, reason);
  }

  /** A frame taken by `message` was answered (ack or error). */
  answered(ws: Ws): void {
    const d = ws.getUserData();
    d.pending--;
    const draining = this.draining;
    if (!draining || d.pending > 0) return;
    this.close(ws, draining.code, draining.reason);
    if (this.sockets.size === 0) draining.done();
  }

  /**
   * Shutdown (contract §8): every frame already taken gets its answer, then
   * the socket closes with `code`. A socket with nothing pending closes at
   * once; the rest as their last answer goes out, or at `deadlineMs`.
   */
  closeAllAnswered(code: number, reason: string, deadlineMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(), deadlineMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.draining = undefined;
        this.closeAll(code, reason);
        resolve();
      };
      this.draining = { code, reason, done: finish };
      for (const ws of [...this.sockets]) if (ws.getUserData().pending <= 0) this.close(ws, code, reason);
      if (this.sockets.size === 0) finish();
    });
  }

  /**
   * One slice of the sockets per tick, all of them each second. In one go it
   * held the loop ~3 ms a second at 10,000 sockets (profile of ws-bench's open
   * loop), delaying every ack that arrived meanwhile. A Set's iterator is live
   * (it skips sockets deleted meanwhile and reaches ones added), so a pass
   * goes on where the last slice stopped.
   */
  private housekeeping(): void {
    const nowSec = Math.floor(this.nowMs() / 1000);
    const slice = Math.ceil(this.sockets.size / HOUSEKEEPING_SLICES);
    for (let n = 0; n < slice; n++) {
      let next = this.pass.next();
      if (next.done) {
        this.pass = this.sockets.values();
        next = this.pass.next();
        if (next.done) return;
      }
      const ws = next.value;
      const d = ws.getUserData();
      if (d.exp <= nowSec) {
        this.send(ws, "token.expired", '{"type":"token.expired"}');
        this.close(ws, CLOSE.tokenExpired, "access token expired");
      } else if (ws.getBufferedAmount() > HARD_BACKPRESSURE) {
        this.close(ws, CLOSE.slowReader, "slow reader");
      } else if (d.bucket.refusedStreak >= ABUSIVE_SECONDS) {
        this.close(ws, CLOSE.rateLimited, "rate limit");
      }
    }
  }

  private indexSid(ws: Ws, sid: string): void {
    this.bySid.add(sid, ws);
  }

  private unindexSid(ws: Ws, sid: string): void {
    this.bySid.delete(sid, ws);
  }
}

/** The topics every socket subscribes to: its user, and its group. */
const topicsOf = (d: SocketData): { user: string; group: string } => ({
  user: topicOf({ kind: "user", userType: d.userType, userId: d.userId }),
  group: topicOf({ kind: "group", group: groupOf(d.userType) }),
});

/** The topics sockets subscribe to in uWS (a group's: thousands of subscribers, one publish). */
const UWS_TOPICS: ReadonlySet<string> = new Set(
  (["customers", "mitras", "operators"] as const).map((group) => topicOf({ kind: "group", group })),
);

/**
 * key → this process's sockets under it (an auth session, a topic). Nearly
 * every key holds one socket (a user's own topic, a session's socket), so
 * that one is stored bare and a Set is made only for a second: a Set each
 * cost ~0.1 KiB of heap per socket, twice (memory per idle socket is a target).
 */
class SocketIndex {
  private readonly map = new Map<string, Ws | Set<Ws>>();

  add(key: string, ws: Ws): void {
    const cur = this.map.get(key);
    if (cur === undefined) this.map.set(key, ws);
    else if (cur instanceof Set) cur.add(ws);
    else if (cur !== ws) this.map.set(key, new Set([cur, ws]));
  }

  delete(key: string, ws: Ws): void {
    const cur = this.map.get(key);
    if (cur === ws) this.map.delete(key);
    else if (cur instanceof Set) {
      cur.delete(ws);
      if (cur.size === 0) this.map.delete(key);
    }
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** A copy: callers close sockets while they walk it. */
  get(key: string): Ws[] {
    const cur = this.map.get(key);
    return cur === undefined ? [] : cur instanceof Set ? [...cur] : [cur];
  }
}
