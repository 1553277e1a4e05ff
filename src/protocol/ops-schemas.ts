import { z } from "zod";
import { displayNameSchema, uuidSchema, withoutNul } from "./common.js";

/** `GET /healthz`: 200 while the process runs. */
export const healthSchema = z.object({ status: z.literal("ok") });

/** `GET /readyz`: 200 when Postgres answers, else 503; `mode` only in Postgres-only mode. */
export const readinessSchema = z.object({
  postgres: z.enum(["up", "down"]),
  valkey: z.enum(["up", "down"]),
  mode: z.literal("postgres-only").optional(),
});

// ---- test routes (ENABLE_TEST_ROUTES=true only, contract §8) -----------------------------------------

export const seedMitraBodySchema = z
  .object({
    phone: z.string(),
    displayName: displayNameSchema,
    isActive: z.boolean().optional(),
    verified: z.boolean().optional(),
    maxConcurrentSessions: z.number().int().min(1).max(100).optional(),
  })
  .strict();
export const seededMitraSchema = z.object({ id: uuidSchema });

export const testOtpQuerySchema = z.object({ phone: z.string() });
export const testOtpSchema = z.object({ code: z.string() });

export const testPushQuerySchema = z.object({ userId: uuidSchema });
/** The last push sent to a user (contract §11): data-only, string values. */
export const testPushSchema = z.object({
  platform: z.enum(["android", "ios"]),
  token: z.string(),
  data: z.record(z.string(), z.string()),
});

export const testMailQuerySchema = z.object({ to: withoutNul(z.string().trim().min(1).max(320)) });
export const testMailSchema = z.object({ link: z.string() });
