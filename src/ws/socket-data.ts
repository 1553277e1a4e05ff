import type { UserType } from "../auth/user-types.js";
import type { TokenBucket } from "./rate-limit.js";

/**
 * What the gateway keeps per socket (uWS user data). Kept small on purpose:
 * memory per idle socket is a target (< 4 KiB); no per-socket timers or
 * closures — one housekeeping tick serves every socket.
 */
export interface SocketData {
  userId: string;
  userType: UserType;
  sid: string;
  /** Access token expiry, epoch seconds; `auth.refresh` moves it. */
  exp: number;
  /** uWS throws on send after close: checked before every send. */
  closed: boolean;
  /** Registered with the hub and greeted (hello): on the next loop turn after open, or at its first frame. */
  active: boolean;
  /** Frames taken and not yet answered: a shutdown closes the socket only once this is 0. */
  pending: number;
  bucket: TokenBucket;
  /** Latest-only frames held back while the socket is above the soft backpressure mark. */
  held?: Map<string, string>;
  /** Per latest-only frame type, the version last sent or held: the same one is never sent twice. */
  latest?: Record<string, string>;
}
