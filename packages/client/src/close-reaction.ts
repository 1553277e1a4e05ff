import { CloseCode } from "./protocol.js";

/** Why a socket stopped for good. */
export type StopReason = "CLOSED" | "REVOKED" | "SIGNED_OUT" | "FORBIDDEN";

export type CloseReaction =
  | { kind: "stop"; reason: StopReason }
  /** Reconnect: after a refresh (4001), after asking whether the token still holds, or plainly; `now` skips the backoff. */
  | { kind: "retry"; first: "refresh" | "check" | null; now: boolean };

export interface ClosedConnection {
  code: number;
  /** A `revoked` frame came before the close. */
  revoked: boolean;
  /** The connection got as far as `hello`. */
  saidHello: boolean;
  /** The HTTP status of a refused upgrade, when the WebSocket implementation tells it (`ws` does, browsers do not). */
  upgradeStatus: number | undefined;
  /** Failed attempts in a row before this one. */
  failuresBefore: number;
}

/**
 * What a socket does when a connection closes (contract §4):
 *
 * | close | reaction |
 * |---|---|
 * | 4003, or a `revoked` frame | stop: the session is revoked |
 * | 4001 token expired | refresh (shared with any refresh in flight), reconnect at once |
 * | upgrade refused 401 | ask whether the token still holds (revoked → stop, expired → refresh), reconnect |
 * | upgrade refused 403 | stop: this endpoint is not for this user |
 * | refused before `hello` with no status, twice in a row | ask, as for 401 (browsers hide the status) |
 * | anything else (4008, 4009, 1001, 1006, network errors) | reconnect after a backoff |
 */
export function reactionTo(c: ClosedConnection): CloseReaction {
  if (c.code === CloseCode.revoked || c.revoked) return { kind: "stop", reason: "REVOKED" };
  if (c.code === CloseCode.tokenExpired) return { kind: "retry", first: "refresh", now: true };
  if (!c.saidHello) {
    if (c.upgradeStatus === 403) return { kind: "stop", reason: "FORBIDDEN" };
    const ask = c.upgradeStatus === 401 || (c.upgradeStatus === undefined && c.failuresBefore >= 1);
    return { kind: "retry", first: ask ? "check" : null, now: false };
  }
  return { kind: "retry", first: null, now: false };
}
