import { z } from "zod";
import { cursorSchema, isoTimeSchema, pageLimitSchema, uuidSchema } from "./common.js";

export const SESSION_STATUSES = ["pending_payment", "active", "ended"] as const;
export const END_REASONS = [
  "EXPIRED",
  "PAYMENT_TIMEOUT",
  "ENDED_BY_CUSTOMER",
  "ENDED_BY_MITRA",
  "REROUTED",
] as const;
export const PAIRING_FAIL_REASONS = ["NO_MITRA_AVAILABLE", "TIMEOUT", "CANCELLED"] as const;

/** `POST /api/client/sessions/:id/extend` takes 1–120 minutes. */
export const EXTEND_MINUTES = { min: 1, max: 120 } as const;
/** Messages per page of `…/messages`. */
export const MESSAGE_PAGE = { default: 50, max: 200 } as const;

/** A chat session (contract §5); unset fields are `null`. */
export const sessionSchema = z.object({
  id: uuidSchema,
  status: z.enum(SESSION_STATUSES),
  endReason: z.enum(END_REASONS).nullable(),
  customerId: uuidSchema,
  mitraId: uuidSchema,
  createdAt: isoTimeSchema,
  paidAt: isoTimeSchema.nullable(),
  expiresAt: isoTimeSchema.nullable(),
  endedAt: isoTimeSchema.nullable(),
});

/** A chat message (contract §5). */
export const messageSchema = z.object({
  id: uuidSchema,
  sessionId: uuidSchema,
  senderType: z.enum(["customer", "mitra"]),
  senderId: uuidSchema,
  clientMsgId: z.string(),
  text: z.string(),
  createdAt: isoTimeSchema,
});

/** The answer of every session call: `{session}`. */
export const sessionAnswerSchema = z.object({ session: sessionSchema });
/** The caller's open sessions (`GET …/sessions?open=true`). */
export const sessionListSchema = z.object({ items: z.array(sessionSchema) });
/** Oldest first; `nextCursor` is the last item's id when more follow. */
export const messagePageSchema = z.object({
  items: z.array(messageSchema),
  nextCursor: z.string().nullable(),
});
/** Operators' view of the open sessions, newest first. */
export const operatorSessionListSchema = z.object({
  items: z.array(sessionSchema.extend({ ageSeconds: z.number().int().min(0) })),
  nextCursor: z.string().nullable(),
});

/** `GET /api/client/pairing/:requestId`: where a pairing request stands (unset fields `null`). */
export const pairingStatusSchema = z.object({
  requestId: uuidSchema,
  status: z.enum(["pending", "matched", "failed"]),
  sessionId: uuidSchema.nullable(),
  reason: z.enum(PAIRING_FAIL_REASONS).nullable(),
});

// ---- requests ---------------------------------------------------------------------------------------

export const extendBodySchema = z
  .object({ minutes: z.number().int().min(EXTEND_MINUTES.min).max(EXTEND_MINUTES.max) })
  .strict();
export const sessionListQuerySchema = z.object({ open: z.literal("true").optional() });
export const messagesQuerySchema = z.object({
  after: z.string().max(64).optional().describe("the id of the last message seen"),
  limit: z.coerce.number().int().min(1).max(MESSAGE_PAGE.max).default(MESSAGE_PAGE.default),
});
export const operatorSessionListQuerySchema = z.object({
  status: z.enum(["pending_payment", "active"]).optional(),
  cursor: cursorSchema.optional(),
  limit: pageLimitSchema,
});
