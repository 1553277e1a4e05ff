import { z } from "zod";
import { cursorSchema, isoTimeSchema, pageLimitSchema, uuidSchema } from "./common.js";

export const VERIFICATION_STATUSES = ["in_progress", "approved", "denied", "suspected", "expired"] as const;

/**
 * What a mitra reads (contract §6). `pending`: another reader is re-minting
 * the provider session; no token meanwhile, ask again.
 */
export const verificationSchema = z.object({
  verificationId: uuidSchema,
  status: z.enum([...VERIFICATION_STATUSES, "pending"]),
  authToken: z.string().nullable(),
  redirectUrl: z.string().nullable(),
  expiresAt: isoTimeSchema.nullable(),
  reason: z.string().nullable(),
});

/** A verification in the operators' list. */
export const verificationItemSchema = z.object({
  id: uuidSchema,
  mitraId: uuidSchema,
  provider: z.string(),
  status: z.enum(VERIFICATION_STATUSES),
  reason: z.string().nullable(),
  recreateCount: z.number().int().min(0),
  expiresAt: isoTimeSchema.nullable(),
  createdAt: isoTimeSchema,
  updatedAt: isoTimeSchema,
});

export const verificationListSchema = z.object({
  items: z.array(verificationItemSchema),
  nextCursor: z.string().nullable(),
});

export const verificationListQuerySchema = z.object({
  status: z.enum(VERIFICATION_STATUSES).optional(),
  cursor: cursorSchema.optional(),
  limit: pageLimitSchema,
});
