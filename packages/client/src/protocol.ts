/**
 * The wire types of halo-gateway as the SDK sees them (contract §2–§5).
 *
 * Declared here, type-only, so the SDK's runtime bundle carries no schema
 * library and no server code; `test/sdk/protocol-types.test.ts` checks them
 * against the server's own schemas.
 */

export type UserType = "customer" | "mitra";

export interface User {
  id: string;
  type: UserType;
  displayName?: string | null;
  phone?: string | null;
  isAnonymous?: boolean;
  [field: string]: unknown;
}

/** The answer of every sign-in and refresh. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** The access token's lifetime in seconds. */
  expiresIn: number;
  user: User;
}

export interface OtpRequested {
  requestId: string;
  expiresInSeconds: number;
  resendAfterSeconds: number;
}

export type SessionStatus = "pending_payment" | "active" | "ended";
export type EndReason = "EXPIRED" | "PAYMENT_TIMEOUT" | "ENDED_BY_CUSTOMER" | "ENDED_BY_MITRA" | "REROUTED";

/** A chat session (contract §5); unset fields are null. */
export interface ChatSession {
  id: string;
  status: SessionStatus;
  endReason: EndReason | null;
  customerId: string;
  mitraId: string;
  createdAt: string;
  paidAt: string | null;
  expiresAt: string | null;
  endedAt: string | null;
}

export interface ChatMessage {
  id: string;
  sessionId: string;
  senderType: UserType;
  senderId: string;
  clientMsgId: string;
  text: string;
  createdAt: string;
}

export interface MessagePage {
  items: ChatMessage[];
  nextCursor: string | null;
}

export type PairingFailReason = "NO_MITRA_AVAILABLE" | "TIMEOUT" | "CANCELLED";

export interface PairingState {
  requestId: string;
  status: "pending" | "matched" | "failed";
  sessionId: string | null;
  reason: PairingFailReason | null;
}

// ---- WebSocket frames, server → client --------------------------------------------------------

export interface HelloFrame {
  type: "hello";
  userId: string;
  userType: UserType | "cc";
  authSessionId: string;
  heartbeatIntervalSeconds: number;
  accessExpiresAt: string;
}

/** Every server → client frame that is not an answer, by type. */
export interface ServerEvents {
  hello: HelloFrame;
  availability: { type: "availability"; available: number; asOf: string };
  "dashboard.counts": {
    type: "dashboard.counts";
    online: number;
    available: number;
    deactivated: number;
    activeSessions: number;
    pendingSessions: number;
  };
  "pairing.offer": {
    type: "pairing.offer";
    requestId: string;
    customer: { displayName: string | null };
    expiresAt: string;
  };
  "pairing.taken": { type: "pairing.taken"; requestId: string };
  "pairing.matched": {
    type: "pairing.matched";
    requestId: string;
    sessionId: string;
    mitra: { id: string; displayName: string | null };
  };
  "pairing.failed": { type: "pairing.failed"; requestId: string; reason: PairingFailReason };
  "session.updated": { type: "session.updated"; session: ChatSession };
  "chat.message": { type: "chat.message"; message: ChatMessage };
  revoked: { type: "revoked" };
  "token.expired": { type: "token.expired" };
}

export type ServerEventType = keyof ServerEvents;

/** An `error` frame (with `id` when it answers a frame that had a readable one). */
export interface ErrorFrame {
  type: "error";
  id?: string | number;
  code: string;
  message: string;
  retryAfterSeconds?: number;
  issues?: { path: string; message: string }[];
  status?: string;
}

// ---- WebSocket frames, client → server, and what their acks carry ----------------------------

/** A frame or an ack without fields. */
export type NoFields = Record<never, never>;

export interface ClientFrames {
  heartbeat: { frame: NoFields; ack: NoFields };
  "status.set": { frame: { online: boolean }; ack: { online: boolean } };
  "auth.refresh": { frame: { accessToken: string }; ack: { accessExpiresAt: string } };
  "pairing.request": { frame: { idempotencyKey?: string }; ack: { requestId: string } };
  "pairing.cancel": { frame: { requestId: string }; ack: NoFields };
  "pairing.accept": { frame: { requestId: string }; ack: { sessionId: string } };
  "pairing.decline": { frame: { requestId: string }; ack: NoFields };
  "session.end": { frame: { sessionId: string }; ack: { session: ChatSession } };
  "chat.send": {
    frame: { sessionId: string; clientMsgId: string; text: string };
    ack: { message: ChatMessage };
  };
}

export type ClientFrameType = keyof ClientFrames;

/** WebSocket close codes the gateway uses (contract §4). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  abnormal: 1006,
  tooBig: 1009,
  tokenExpired: 4001,
  revoked: 4003,
  rateLimited: 4008,
  slowReader: 4009,
} as const;
