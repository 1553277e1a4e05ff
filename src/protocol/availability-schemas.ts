import { z } from "zod";
import {
  cursorSchema,
  displayNameSchema,
  isoTimeSchema,
  pageLimitSchema,
  searchSchema,
  uuidSchema,
} from "./common.js";

/** The public beacon (`GET /api/client/availability`, the `availability` frame); at most 10 s old. */
export const availabilitySchema = z.object({
  available: z.number().int().min(0).describe("the number of available mitras"),
  asOf: isoTimeSchema.describe("when it was computed"),
});

/** A mitra's presence after `POST /api/mitra/status/online|offline` (and the `status.set` ack). */
export const onlineStateSchema = z.object({ online: z.boolean() });

/** The control center's headline numbers (`GET /internal/dashboard/counts`, the `dashboard.counts` frame). */
export const dashboardCountsSchema = z.object({
  online: z.number().int().min(0),
  available: z.number().int().min(0),
  deactivated: z.number().int().min(0),
  activeSessions: z.number().int().min(0),
  pendingSessions: z.number().int().min(0),
});

export const dashboardHistorySchema = z.object({
  points: z.array(dashboardCountsSchema.extend({ at: isoTimeSchema })),
});

/** A mitra as operators see it (contract §3). */
export const mitraItemSchema = z.object({
  id: uuidSchema,
  phone: z.string(),
  displayName: z.string(),
  isActive: z.boolean(),
  online: z.boolean(),
  available: z.boolean(),
  heartbeatAgeSeconds: z.number().int().nullable(),
  capacity: z.number().int().min(0),
  maxConcurrentSessions: z.number().int(),
  verifiedAt: isoTimeSchema.nullable(),
});

export const mitraListSchema = z.object({
  items: z.array(mitraItemSchema),
  nextCursor: z.string().nullable(),
});

export const MITRA_LOG_STATUSES = ["online", "offline", "auto_offline", "deactivated", "activated"] as const;

/** A mitra's status changes, newest first: one row per change. */
export const mitraLogSchema = z.object({
  items: z.array(z.object({ status: z.enum(MITRA_LOG_STATUSES), at: isoTimeSchema })),
});

// ---- requests ---------------------------------------------------------------------------------------

export const mitraListQuerySchema = z.object({
  status: z.enum(["online", "offline", "available", "deactivated"]).optional(),
  q: searchSchema.optional().describe("matches phone or name"),
  cursor: cursorSchema.optional(),
  limit: pageLimitSchema,
});

const maxSessions = z.number().int().min(1).max(100);

export const mitraCreateBodySchema = z
  .object({
    phone: z.string().max(40),
    displayName: displayNameSchema,
    maxConcurrentSessions: maxSessions.optional(),
  })
  .strict();

export const mitraPatchBodySchema = z
  .object({
    displayName: displayNameSchema.optional(),
    isActive: z.boolean().optional(),
    maxConcurrentSessions: maxSessions.optional(),
  })
  .strict();
