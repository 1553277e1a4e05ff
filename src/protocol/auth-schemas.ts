import { z } from "zod";
import { displayNameSchema, isoTimeSchema, uuidSchema } from "./common.js";

/** The signed-in customer (`user` of a token pair, `GET /api/client/auth/me`). */
export const customerUserSchema = z.object({
  id: uuidSchema,
  type: z.literal("customer"),
  displayName: z.string().nullable(),
  phone: z.string().nullable().describe("E.164"),
  email: z.string().nullable(),
  isAnonymous: z.boolean(),
  linkedProviders: z.array(z.enum(["google", "apple"])),
  createdAt: isoTimeSchema,
});

/** The signed-in mitra (`user` of a token pair, `GET /api/mitra/auth/me`). */
export const mitraUserSchema = z.object({
  id: uuidSchema,
  type: z.literal("mitra"),
  displayName: z.string(),
  phone: z.string().describe("E.164"),
  isActive: z.boolean(),
  online: z.boolean(),
  verifiedAt: isoTimeSchema.nullable(),
  maxConcurrentSessions: z.number().int(),
  createdAt: isoTimeSchema,
});

export const OPERATOR_ROLES = ["admin", "operator"] as const;
export const operatorRoleSchema = z.enum(OPERATOR_ROLES);

/** A control-center operator (`GET /internal/auth/me`, the operator routes). */
export const operatorUserSchema = z.object({
  id: uuidSchema,
  type: z.literal("cc"),
  email: z.string(),
  role: operatorRoleSchema,
  status: z.enum(["active", "invited", "disabled"]),
  createdAt: isoTimeSchema,
});

/** A customer or a mitra: the users of the public listener. */
export const appUserSchema = z.discriminatedUnion("type", [customerUserSchema, mitraUserSchema]);

/** Every sign-in and refresh of a customer or mitra (contract §2). */
export const tokenPairSchema = z.object({
  accessToken: z.string(),
  refreshToken: z.string(),
  expiresIn: z.number().int().describe("the access token's lifetime in seconds"),
  user: appUserSchema,
});

/** `POST /api/client/auth/otp/request` and the mitra one. */
export const otpIssuedSchema = z.object({
  requestId: uuidSchema,
  expiresInSeconds: z.number().int(),
  resendAfterSeconds: z.number().int(),
});

// ---- request bodies ---------------------------------------------------------------------------

export const anonymousBodySchema = z.object({ displayName: displayNameSchema.optional() }).strict();
export const refreshBodySchema = z.object({ refreshToken: z.string().max(512) }).strict();

/** Bodies of …/otp/request and …/otp/verify (both flows). A `phone` that is no string fails here. */
export const otpRequestBodySchema = z.object({ phone: z.string() }).strict();
export const otpVerifyBodySchema = z
  .object({ requestId: z.uuid(), code: z.string().regex(/^[0-9]{6}$/, "must be 6 digits") })
  .strict();

/** Google or Apple sign-in: the provider's id token. */
export const idTokenBodySchema = z.object({ idToken: z.string().min(1).max(16_384) }).strict();
export const profileBodySchema = z.object({ displayName: displayNameSchema }).strict();
