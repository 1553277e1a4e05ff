/**
 * The one interface every push provider implements (contract §11): `log`
 * (default) and `fcm`. A provider makes one attempt and says what became of
 * it; the send queue owns retries, backoff, deleting unregistered tokens and
 * the metrics, so every provider gets them the same.
 */

export type PushPlatform = "android" | "ios";

/** One data-only push to one device. FCM requires string values in `data`. */
export interface PushMessage {
  platform: PushPlatform;
  token: string;
  data: Record<string, string>;
}

export type PushResult =
  | { kind: "sent" }
  /** The provider says the token is no longer valid (FCM 404 UNREGISTERED, 400 on a bad token): delete it. */
  | { kind: "unregistered" }
  /** Worth another try (429, 5xx, a network error); `afterMs` from Retry-After when the provider gave one. */
  | { kind: "retry"; afterMs?: number; reason: string }
  /** Will not succeed by trying again (e.g. 400 on the message, 403 on the project). */
  | { kind: "failed"; reason: string };

export interface PushProvider {
  readonly name: string;
  send(msg: PushMessage): Promise<PushResult>;
  /** Releases sockets/timers at shutdown. */
  close?(): Promise<void>;
}
