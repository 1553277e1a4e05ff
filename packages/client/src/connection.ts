import type { AccessToken } from "./auth.js";
import { ClientCode, HaloError, SESSION_ENDING_CODES } from "./errors.js";
import type { HelloFrame } from "./protocol.js";
import type { WebSocketLike } from "./transport.js";

/** One physical WebSocket of a HaloSocket, from its opening to its close. */
export interface Connection {
  ws: WebSocketLike;
  /** The access token it runs on (swapped by the in-band refresh). */
  token: AccessToken;
  hello: HelloFrame | null;
  openedAt: number;
  lastFrameAt: number;
  /** The HTTP status of a refused upgrade, when the WebSocket implementation tells it. */
  upgradeStatus: number | undefined;
  timers: Set<ReturnType<typeof setTimeout>>;
  /** A `revoked` frame came: whatever the close code, the session is over. */
  revoked: boolean;
}

export function newConnection(ws: WebSocketLike, token: AccessToken, now: number): Connection {
  return {
    ws,
    token,
    hello: null,
    openedAt: now,
    lastFrameAt: now,
    upgradeStatus: undefined,
    timers: new Set(),
    revoked: false,
  };
}

/** A timer that dies with the connection (clearTimers). */
export function later(conn: Connection, ms: number, fn: () => void): void {
  const t = setTimeout(
    () => {
      conn.timers.delete(t);
      fn();
    },
    Math.max(0, ms),
  );
  conn.timers.add(t);
}

export function clearTimers(conn: Connection): void {
  for (const t of conn.timers) clearTimeout(t);
  conn.timers.clear();
}

/** Detaches the SDK from a WebSocket it is done with. */
export function detach(conn: Connection): void {
  conn.ws.onmessage = null;
  conn.ws.onclose = null;
  // Never null: `ws` throws an error event nobody listens to (e.g. closing while connecting).
  conn.ws.onerror = () => {};
}

/** The auth session is over (signed out elsewhere, refresh refused for good): stop, do not retry. */
export function isSessionOver(err: unknown): boolean {
  return (
    err instanceof HaloError && (err.code === ClientCode.notSignedIn || SESSION_ENDING_CODES.has(err.code))
  );
}
