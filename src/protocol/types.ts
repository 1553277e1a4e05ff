import type { z } from "zod";
import type {
  anonymousBodySchema,
  appUserSchema,
  customerUserSchema,
  idTokenBodySchema,
  mitraUserSchema,
  operatorUserSchema,
  otpIssuedSchema,
  otpRequestBodySchema,
  otpVerifyBodySchema,
  profileBodySchema,
  refreshBodySchema,
  tokenPairSchema,
} from "./auth-schemas.js";
import type {
  availabilitySchema,
  dashboardCountsSchema,
  mitraItemSchema,
  mitraListSchema,
  mitraLogSchema,
  onlineStateSchema,
} from "./availability-schemas.js";
import type { ClientFrameType, clientFrameAcks, clientFrames } from "./client-frames.js";
import type { userTypeSchema } from "./common.js";
import type { errorBodySchema, errorFrameSchema, issueSchema } from "./errors.js";
import type { operatorLinkSignInSchema, operatorSignInSchema, tunablesSchema } from "./operator-schemas.js";
import type { ServerFrameType, serverFrames } from "./server-frames.js";
import type {
  END_REASONS,
  extendBodySchema,
  messagePageSchema,
  messageSchema,
  messagesQuerySchema,
  PAIRING_FAIL_REASONS,
  pairingStatusSchema,
  SESSION_STATUSES,
  sessionListSchema,
  sessionSchema,
} from "./session-schemas.js";
import type { verificationItemSchema, verificationSchema } from "./verification-schemas.js";

// Answers are what the server sends (zod output); bodies and queries what a client sends (zod input).

export type UserType = z.infer<typeof userTypeSchema>;
export type CustomerUser = z.infer<typeof customerUserSchema>;
export type MitraUser = z.infer<typeof mitraUserSchema>;
export type OperatorUser = z.infer<typeof operatorUserSchema>;
export type AppUser = z.infer<typeof appUserSchema>;
export type TokenPair = z.infer<typeof tokenPairSchema>;
export type OtpIssued = z.infer<typeof otpIssuedSchema>;
export type OperatorSignIn = z.infer<typeof operatorSignInSchema>;
export type OperatorLinkSignIn = z.infer<typeof operatorLinkSignInSchema>;
export type Tunables = z.infer<typeof tunablesSchema>;

export type Availability = z.infer<typeof availabilitySchema>;
export type OnlineState = z.infer<typeof onlineStateSchema>;
export type DashboardCounts = z.infer<typeof dashboardCountsSchema>;
export type MitraItem = z.infer<typeof mitraItemSchema>;
export type MitraList = z.infer<typeof mitraListSchema>;
export type MitraLog = z.infer<typeof mitraLogSchema>;

export type SessionStatus = (typeof SESSION_STATUSES)[number];
export type EndReason = (typeof END_REASONS)[number];
export type PairingFailReason = (typeof PAIRING_FAIL_REASONS)[number];
export type Session = z.infer<typeof sessionSchema>;
export type SessionList = z.infer<typeof sessionListSchema>;
export type Message = z.infer<typeof messageSchema>;
export type MessagePage = z.infer<typeof messagePageSchema>;
export type PairingStatus = z.infer<typeof pairingStatusSchema>;
export type Verification = z.infer<typeof verificationSchema>;
export type VerificationItem = z.infer<typeof verificationItemSchema>;

export type Issue = z.infer<typeof issueSchema>;
export type ErrorBody = z.infer<typeof errorBodySchema>;
export type ErrorFrame = z.infer<typeof errorFrameSchema>;

export type AnonymousBody = z.input<typeof anonymousBodySchema>;
export type RefreshBody = z.input<typeof refreshBodySchema>;
export type OtpRequestBody = z.input<typeof otpRequestBodySchema>;
export type OtpVerifyBody = z.input<typeof otpVerifyBodySchema>;
export type IdTokenBody = z.input<typeof idTokenBodySchema>;
export type ProfileBody = z.input<typeof profileBodySchema>;
export type ExtendBody = z.input<typeof extendBodySchema>;
export type MessagesQuery = z.input<typeof messagesQuerySchema>;

/** A client → server frame of one type, as sent (`type`, optional `id`, its fields). */
export type ClientFrame<T extends ClientFrameType = ClientFrameType> = z.input<(typeof clientFrames)[T]>;
/** What the `ack` of a client frame carries beside `type` and `id`. */
export type ClientFrameAck<T extends ClientFrameType> = z.infer<(typeof clientFrameAcks)[T]>;
/** A server → client frame of one type. */
export type ServerFrame<T extends ServerFrameType = ServerFrameType> = z.infer<(typeof serverFrames)[T]>;
