import { z } from "zod";
import { onlineStateSchema } from "./availability-schemas.js";
import {
  emptyAnswerSchema,
  frameIdSchema,
  idempotencyKeySchema,
  isoTimeSchema,
  uuidSchema,
} from "./common.js";
import type { ErrorCode } from "./errors.js";
import { messageSchema, sessionSchema } from "./session-schemas.js";

/** Client → server frames: fields sit flat beside `type` (contract §4). */
export const clientFrames = {
  heartbeat: z.object({ type: z.literal("heartbeat"), id: frameIdSchema.optional() }).strict(),
  "status.set": z
    .object({ type: z.literal("status.set"), id: frameIdSchema.optional(), online: z.boolean() })
    .strict(),
  "auth.refresh": z
    .object({
      type: z.literal("auth.refresh"),
      id: frameIdSchema.optional(),
      accessToken: z.string().max(4096),
    })
    .strict(),
  "pairing.request": z
    .object({
      type: z.literal("pairing.request"),
      id: frameIdSchema.optional(),
      idempotencyKey: idempotencyKeySchema.optional(),
    })
    .strict(),
  "pairing.cancel": z
    .object({ type: z.literal("pairing.cancel"), id: frameIdSchema.optional(), requestId: z.uuid() })
    .strict(),
  "pairing.accept": z
    .object({ type: z.literal("pairing.accept"), id: frameIdSchema.optional(), requestId: z.uuid() })
    .strict(),
  "pairing.decline": z
    .object({ type: z.literal("pairing.decline"), id: frameIdSchema.optional(), requestId: z.uuid() })
    .strict(),
  "session.end": z
    .object({ type: z.literal("session.end"), id: frameIdSchema.optional(), sessionId: z.uuid() })
    .strict(),
  "chat.send": z
    .object({
      type: z.literal("chat.send"),
      id: frameIdSchema.optional(),
      sessionId: z.uuid(),
      clientMsgId: z.string().min(1).max(128),
      text: z.string().min(1).max(4000),
    })
    .strict(),
} as const;

export type ClientFrameType = keyof typeof clientFrames;
export const CLIENT_FRAME_TYPES = Object.keys(clientFrames) as ClientFrameType[];

/** Which user types may send each frame; any other gets FORBIDDEN. */
export const frameSenders: Record<ClientFrameType, readonly ("customer" | "mitra" | "cc")[]> = {
  heartbeat: ["mitra"],
  "status.set": ["mitra"],
  "auth.refresh": ["customer", "mitra", "cc"],
  "pairing.request": ["customer"],
  "pairing.cancel": ["customer"],
  "pairing.accept": ["mitra"],
  "pairing.decline": ["mitra"],
  "session.end": ["customer", "mitra"],
  "chat.send": ["customer", "mitra"],
};

/** What each frame's `ack` carries beside `type` and `id` (results sit at the top level of the ack). */
export const clientFrameAcks = {
  heartbeat: emptyAnswerSchema,
  "status.set": onlineStateSchema,
  "auth.refresh": z.object({ accessExpiresAt: isoTimeSchema }),
  "pairing.request": z.object({ requestId: uuidSchema }),
  "pairing.cancel": emptyAnswerSchema,
  "pairing.accept": z.object({ sessionId: uuidSchema }),
  "pairing.decline": emptyAnswerSchema,
  "session.end": z.object({ session: sessionSchema }),
  "chat.send": z.object({ message: messageSchema }),
} as const satisfies Record<ClientFrameType, z.ZodObject>;

/** `{"type":"ack","id",…}`: the answer to a frame that had an `id`. */
export const ackFrameSchema = z.object({ type: z.literal("ack"), id: frameIdSchema }).catchall(z.unknown());

/** The whole ack frame of one client frame type. */
export function ackFrameOf<T extends ClientFrameType>(type: T) {
  return z.object({ type: z.literal("ack"), id: frameIdSchema, ...clientFrameAcks[type].shape });
}

/**
 * The error codes a frame may answer beyond the ones every frame may meet
 * (`FRAME_ERROR_CODES`), as the handlers behind it throw them.
 */
export const clientFrameErrors = {
  heartbeat: ["ACCOUNT_INACTIVE"],
  "status.set": ["ACCOUNT_INACTIVE", "VERIFICATION_REQUIRED", "NOT_FOUND"],
  "auth.refresh": ["UNAUTHENTICATED", "TOKEN_EXPIRED", "SESSION_REVOKED"],
  "pairing.request": ["PAIRING_IN_PROGRESS", "SESSION_OPEN", "REQUEST_IN_PROGRESS"],
  "pairing.cancel": ["NOT_FOUND", "SESSION_OPEN"],
  "pairing.accept": ["NOT_FOUND", "PAIRING_TAKEN", "AT_CAPACITY"],
  "pairing.decline": ["NOT_FOUND"],
  "session.end": ["NOT_FOUND", "SESSION_STATE"],
  "chat.send": ["NOT_FOUND", "SESSION_STATE"],
} as const satisfies Record<ClientFrameType, readonly ErrorCode[]>;

/** Codes any client frame may answer (contract §4). */
export const FRAME_ERROR_CODES = [
  "BAD_FRAME",
  "UNKNOWN_TYPE",
  "VALIDATION_FAILED",
  "FORBIDDEN",
  "RATE_LIMITED",
  "SESSION_REVOKED",
  "DEPENDENCY_UNAVAILABLE",
] as const satisfies readonly ErrorCode[];
