/**
 * @halo/client — the browser and React Native entry: global `fetch` and
 * global `WebSocket`, no Node API. In Node use `@halo/client/node`.
 */
export {
  type AccessToken,
  type AccessTokenSource,
  type AuthEvents,
  type AuthOptions,
  HaloAuth,
  type SignedOut,
} from "./auth.js";
export { Backoff, type BackoffOptions } from "./backoff.js";
export { type ClientOptions, createHaloClient, HaloClient } from "./client.js";
export { type ClosedConnection, type CloseReaction, reactionTo, type StopReason } from "./close-reaction.js";
export { Conversation, type ConversationEvents, type ConversationOptions } from "./conversation.js";
export { Emitter } from "./emitter.js";
export { ClientCode, HaloError, type Issue, SESSION_ENDING_CODES } from "./errors.js";
export {
  type CallOptions,
  type FetchLike,
  HaloHttp,
  type HttpOptions,
  type RequestInitLike,
  type ResponseLike,
} from "./http.js";
export { newId } from "./ids.js";
export { Outbox, type OutgoingMessage } from "./outbox.js";
export { PairingAttempt, type PairingResult } from "./pairing.js";
export * from "./protocol.js";
export { type RetryOptions, retrying } from "./retry.js";
export { SessionsApi } from "./sessions.js";
export { HaloSocket, type SocketEvents, type SocketOptions, type SocketState } from "./socket.js";
export {
  type KeptPushDevice,
  type KeyValueStorage,
  KeyValueTokenStore,
  MemoryTokenStore,
  type PushDevice,
  type StoredSession,
  sessionFromPair,
  type TokenStore,
} from "./token-store.js";
export {
  globalWebSocketFactory,
  socketUrl,
  type WebSocketFactory,
  type WebSocketLike,
  withToken,
} from "./transport.js";
