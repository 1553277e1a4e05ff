import { z } from "zod";
import { frameIdSchema } from "./common.js";

/**
 * Every error code a client can meet, with its HTTP status (contract §1–§9,
 * docs/errors.md). A WebSocket `error` frame carries the same codes; the
 * status is then only the code's family. Each code has exactly one status.
 */
export const ERROR_CODES = {
  VALIDATION_FAILED: { status: 400, when: "the body, query or frame fails its schema, or is not JSON" },
  BAD_UPGRADE: { status: 400, when: "a WebSocket upgrade without `Connection: Upgrade`" },
  BAD_FRAME: { status: 400, when: "a WebSocket frame that is not a JSON object, or is binary" },
  UNKNOWN_TYPE: { status: 400, when: "a WebSocket frame of a type the server does not know" },
  INVALID_PHONE: { status: 400, when: "a string that is no phone number" },
  CODE_MISMATCH: { status: 400, when: "a wrong OTP code; carries `attemptsRemaining`" },
  OTP_EXPIRED: { status: 400, when: "an OTP code past its lifetime, or voided by a newer request" },
  OTP_USED: { status: 400, when: "an OTP code already verified" },
  WRONG_FLOW: { status: 400, when: "a customer OTP request verified on the mitra route, or the reverse" },
  PASSWORD_POLICY: { status: 400, when: "a password that fails the policy" },
  UNAUTHENTICATED: { status: 401, when: "no token, or a bad one" },
  TOKEN_EXPIRED: { status: 401, when: "the access token expired: refresh it" },
  SESSION_REVOKED: { status: 401, when: "the auth session was revoked" },
  REFRESH_INVALID: { status: 401, when: "an unknown or malformed refresh token" },
  REFRESH_EXPIRED: { status: 401, when: "a refresh token past its lifetime" },
  REFRESH_REUSED: { status: 401, when: "a rotated refresh token used again: the auth session is revoked" },
  INVALID_CREDENTIALS: { status: 401, when: "unknown email or wrong password" },
  LINK_INVALID: { status: 401, when: "an unknown or voided link token" },
  INVALID_SIGNATURE: { status: 401, when: "a webhook without a valid signature" },
  FORBIDDEN: { status: 403, when: "a token of another user type or role, or a frame of another user type" },
  ACCOUNT_INACTIVE: { status: 403, when: "the account is deactivated" },
  VERIFICATION_REQUIRED: { status: 403, when: "a mitra not verified while verification is required" },
  NOT_FOUND: { status: 404, when: "an unknown path, or a resource that does not exist or is someone else's" },
  METHOD_NOT_ALLOWED: { status: 405, when: "a known path with another method; `Allow` lists the methods" },
  IDENTITY_CONFLICT: {
    status: 409,
    when: "linking a phone or social identity that belongs to another account",
  },
  PHONE_TAKEN: { status: 409, when: "a mitra with this phone already exists" },
  EMAIL_TAKEN: { status: 409, when: "an operator with this email already exists" },
  LINK_USED: { status: 409, when: "a link token already used" },
  PAIRING_TAKEN: { status: 409, when: "another mitra accepted the pairing request first" },
  AT_CAPACITY: { status: 409, when: "the mitra is at its maximum of concurrent sessions" },
  PAIRING_IN_PROGRESS: { status: 409, when: "the customer already has a pending pairing request" },
  SESSION_OPEN: { status: 409, when: "the customer already has an open chat session" },
  SESSION_STATE: {
    status: 409,
    when: "a chat-session call in the wrong state; carries the session's `status`",
  },
  REQUEST_IN_PROGRESS: { status: 409, when: "a request with the same Idempotency-Key is still running" },
  LINK_EXPIRED: { status: 410, when: "a link token past its lifetime" },
  PAYLOAD_TOO_LARGE: { status: 413, when: "a body over 64 KiB" },
  IDEMPOTENCY_KEY_REUSED: { status: 422, when: "an Idempotency-Key already used with a different request" },
  ACCOUNT_LOCKED: { status: 423, when: "too many failed logins; carries `retryAfterSeconds`" },
  RESEND_COOLDOWN: { status: 429, when: "an OTP requested again too soon; carries `retryAfterSeconds`" },
  RATE_LIMITED: { status: 429, when: "over a rate limit; carries `retryAfterSeconds`" },
  ATTEMPTS_EXCEEDED: { status: 429, when: "too many wrong OTP codes; carries `retryAfterSeconds`" },
  INTERNAL: { status: 500, when: "a bug; the log has the request id, the client gets no detail" },
  VERIFICATION_PROVIDER_ERROR: {
    status: 502,
    when: "the identity-verification provider failed, timed out or answered something unexpected; nothing changed",
  },
  BUSY: { status: 503, when: "too many password hashes queued; carries `retryAfterSeconds`" },
  DEPENDENCY_UNAVAILABLE: { status: 503, when: "Postgres or a provider is unavailable for this request" },
} as const satisfies Record<string, { status: number; when: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]];
export const errorCodeSchema = z.enum(ERROR_CODE_LIST);

/** The HTTP status of a code. */
export function errorStatus(code: ErrorCode): number {
  return ERROR_CODES[code].status;
}

export const issueSchema = z.object({
  /** Dotted path of the field, `""` for the whole body. */
  path: z.string(),
  message: z.string(),
});

/** The extra fields an error may carry, inside `error` (HTTP) or at the top level (WebSocket). */
const errorDetails = {
  retryAfterSeconds: z.number().int().min(0).optional(),
  attemptsRemaining: z.number().int().min(0).optional(),
  issues: z.array(issueSchema).optional(),
  /** The session's current status, on SESSION_STATE. */
  status: z.string().optional(),
};

/** Every HTTP error: `{"error":{"code","message",…}}` (contract §1). */
export const errorBodySchema = z.object({
  error: z.object({ code: errorCodeSchema, message: z.string(), ...errorDetails }),
});

/** `{"type":"error","id"?,"code","message",…}` (contract §4); no `id` when the frame had no readable one. */
export const errorFrameSchema = z.object({
  type: z.literal("error"),
  id: frameIdSchema.optional(),
  code: errorCodeSchema,
  message: z.string(),
  ...errorDetails,
});
