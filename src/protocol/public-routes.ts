import { z } from "zod";
import {
  anonymousBodySchema,
  customerUserSchema,
  idTokenBodySchema,
  mitraUserSchema,
  otpIssuedSchema,
  otpRequestBodySchema,
  otpVerifyBodySchema,
  profileBodySchema,
  refreshBodySchema,
  tokenPairSchema,
} from "./auth-schemas.js";
import { availabilitySchema, onlineStateSchema } from "./availability-schemas.js";
import { emptyAnswerSchema, noFieldsSchema, uuidSchema } from "./common.js";
import { deviceBodySchema } from "./device-schemas.js";
import type { RouteSpec } from "./route-spec.js";
import {
  extendBodySchema,
  messagePageSchema,
  messagesQuerySchema,
  pairingStatusSchema,
  sessionAnswerSchema,
  sessionListQuerySchema,
  sessionListSchema,
} from "./session-schemas.js";
import { verificationSchema } from "./verification-schemas.js";

const pub = { listener: "public" } as const;
const anyone = { users: [] } as const;
const customer = { users: ["customer"] } as const;
const mitra = { users: ["mitra"] } as const;
const otpCodes = ["CODE_MISMATCH", "OTP_EXPIRED", "OTP_USED", "ATTEMPTS_EXCEEDED", "WRONG_FLOW"] as const;
/** A `:id` that is no UUID names nothing: 404, as an unknown one (no disclosure). */
const sessionParams = z.object({ id: uuidSchema });

function sessionRoutes(side: "client" | "mitra"): RouteSpec[] {
  const auth = side === "client" ? customer : mitra;
  const base = `/api/${side}/sessions`;
  const tag = "sessions";
  return [
    {
      ...pub,
      tag,
      method: "POST",
      path: `${base}/:id/end`,
      summary: "End a chat session",
      auth,
      params: sessionParams,
      body: noFieldsSchema,
      answers: { 200: sessionAnswerSchema },
      errors: ["NOT_FOUND", "SESSION_STATE"],
    },
    {
      ...pub,
      tag,
      method: "GET",
      path: `${base}/:id`,
      summary: "Read a chat session",
      auth,
      params: sessionParams,
      answers: { 200: sessionAnswerSchema },
      errors: ["NOT_FOUND"],
    },
    {
      ...pub,
      tag,
      method: "GET",
      path: base,
      summary: "The caller's open chat sessions (`open=true`)",
      auth,
      query: sessionListQuerySchema,
      answers: { 200: sessionListSchema },
      errors: [],
    },
    {
      ...pub,
      tag,
      method: "GET",
      path: `${base}/:id/messages`,
      summary: "Messages after a given one, oldest first (catch-up after a reconnect)",
      auth,
      params: sessionParams,
      query: messagesQuerySchema,
      answers: { 200: messagePageSchema },
      errors: ["NOT_FOUND"],
    },
  ];
}

/** A signed-in device's push token (contract §11): one per auth session. */
function deviceRoutes(side: "client" | "mitra"): RouteSpec[] {
  const auth = side === "client" ? customer : mitra;
  const tag = "push";
  return [
    {
      ...pub,
      tag,
      method: "POST",
      path: `/api/${side}/devices`,
      summary:
        "Register this session's push token (a new one replaces it; a token registered by another session moves here)",
      auth,
      body: deviceBodySchema,
      answers: { 204: null },
      errors: [],
    },
    {
      ...pub,
      tag,
      method: "DELETE",
      path: `/api/${side}/devices/current`,
      summary: "Forget this session's push token (logout and revocations forget it too)",
      auth,
      answers: { 204: null },
      errors: [],
    },
  ];
}

/** Every route of the public listener (contract §2–§6). */
export const PUBLIC_ROUTES: readonly RouteSpec[] = [
  {
    ...pub,
    tag: "auth",
    method: "POST",
    path: "/api/shared/auth/anonymous",
    summary: "Sign in as a new anonymous customer",
    auth: anyone,
    body: anonymousBodySchema,
    answers: { 201: tokenPairSchema },
    errors: [],
  },
  {
    ...pub,
    tag: "auth",
    method: "POST",
    path: "/api/shared/auth/refresh",
    summary: "Rotate a refresh token (a lost answer may be retried within the grace window)",
    auth: anyone,
    body: refreshBodySchema,
    answers: { 200: tokenPairSchema },
    errors: ["REFRESH_INVALID", "REFRESH_EXPIRED", "REFRESH_REUSED", "SESSION_REVOKED", "ACCOUNT_INACTIVE"],
  },
  {
    ...pub,
    tag: "auth",
    method: "POST",
    path: "/api/shared/auth/logout",
    summary: "Revoke this auth session",
    auth: { users: ["customer", "mitra"] },
    answers: { 204: null },
    errors: [],
  },
  {
    ...pub,
    tag: "auth",
    method: "POST",
    path: "/api/shared/auth/logout-all",
    summary: "Revoke every auth session of the user",
    auth: { users: ["customer", "mitra"] },
    answers: { 204: null },
    errors: [],
  },
  ...(["client", "mitra"] as const).flatMap((side): RouteSpec[] => [
    {
      ...pub,
      tag: "auth",
      method: "POST",
      path: `/api/${side}/auth/otp/request`,
      summary: `Send a phone code (${side === "client" ? "customers" : "mitras"})`,
      auth: anyone,
      body: otpRequestBodySchema,
      answers: { 200: otpIssuedSchema },
      errors: ["INVALID_PHONE", "RESEND_COOLDOWN", "RATE_LIMITED"],
    },
    {
      ...pub,
      tag: "auth",
      method: "POST",
      path: `/api/${side}/auth/otp/verify`,
      summary:
        side === "client"
          ? "Sign in with a phone code; with an anonymous customer's Bearer, link that customer to the phone"
          : "Sign in with a phone code (mitras are created by the control center)",
      auth: side === "client" ? { users: ["customer"], optional: true } : anyone,
      body: otpVerifyBodySchema,
      answers: { 200: tokenPairSchema },
      errors:
        side === "client"
          ? [...otpCodes, "ACCOUNT_INACTIVE", "IDENTITY_CONFLICT", "UNAUTHENTICATED", "TOKEN_EXPIRED"]
          : [...otpCodes, "ACCOUNT_INACTIVE"],
    },
  ]),
  ...(["google", "apple"] as const).map(
    (provider): RouteSpec => ({
      ...pub,
      tag: "auth",
      method: "POST",
      path: `/api/client/auth/${provider}`,
      summary: `Sign in with a ${provider === "google" ? "Google" : "Apple"} id token; with an anonymous customer's Bearer, link it`,
      auth: { users: ["customer"], optional: true },
      body: idTokenBodySchema,
      answers: { 200: tokenPairSchema },
      errors: ["UNAUTHENTICATED", "ACCOUNT_INACTIVE", "IDENTITY_CONFLICT"],
    }),
  ),
  {
    ...pub,
    tag: "auth",
    method: "GET",
    path: "/api/client/auth/me",
    summary: "The signed-in customer",
    auth: customer,
    answers: { 200: customerUserSchema },
    errors: ["NOT_FOUND"],
  },
  {
    ...pub,
    tag: "auth",
    method: "PATCH",
    path: "/api/client/auth/profile",
    summary: "Change the customer's display name",
    auth: customer,
    body: profileBodySchema,
    answers: { 200: customerUserSchema },
    errors: ["NOT_FOUND"],
  },
  {
    ...pub,
    tag: "auth",
    method: "GET",
    path: "/api/mitra/auth/me",
    summary: "The signed-in mitra",
    auth: mitra,
    answers: { 200: mitraUserSchema },
    errors: ["NOT_FOUND"],
  },
  {
    ...pub,
    tag: "availability",
    method: "POST",
    path: "/api/mitra/status/online",
    summary: "Go online (records a heartbeat)",
    auth: mitra,
    body: noFieldsSchema,
    answers: { 200: onlineStateSchema },
    errors: ["ACCOUNT_INACTIVE", "VERIFICATION_REQUIRED", "NOT_FOUND"],
  },
  {
    ...pub,
    tag: "availability",
    method: "POST",
    path: "/api/mitra/status/offline",
    summary: "Go offline",
    auth: mitra,
    body: noFieldsSchema,
    answers: { 200: onlineStateSchema },
    errors: ["NOT_FOUND"],
  },
  {
    ...pub,
    tag: "availability",
    method: "POST",
    path: "/api/mitra/status/heartbeat",
    summary: "Record a heartbeat (does not set the mitra online)",
    auth: mitra,
    body: noFieldsSchema,
    answers: { 204: null },
    errors: ["ACCOUNT_INACTIVE"],
  },
  {
    ...pub,
    tag: "availability",
    method: "GET",
    path: "/api/client/availability",
    summary: "How many mitras are available now (public, no token; at most 10 s old)",
    auth: anyone,
    answers: { 200: availabilitySchema },
    errors: [],
  },
  {
    ...pub,
    tag: "pairing",
    method: "GET",
    path: "/api/client/pairing/:requestId",
    summary: "Where a pairing request stands (for a client that reconnects mid-request)",
    auth: customer,
    params: z.object({ requestId: uuidSchema }),
    answers: { 200: pairingStatusSchema },
    errors: ["NOT_FOUND"],
  },
  {
    ...pub,
    tag: "verification",
    method: "POST",
    path: "/api/mitra/verification",
    summary: "Start identity verification (an in-progress one is returned, not minted again)",
    auth: mitra,
    idempotent: true,
    body: noFieldsSchema,
    answers: { 200: verificationSchema },
    errors: ["NOT_FOUND", "REQUEST_IN_PROGRESS", "VERIFICATION_PROVIDER_ERROR"],
  },
  {
    ...pub,
    tag: "verification",
    method: "GET",
    path: "/api/mitra/verification",
    summary: "The mitra's verification status (an expired provider session is re-minted in place)",
    auth: mitra,
    answers: { 200: verificationSchema },
    errors: ["NOT_FOUND", "VERIFICATION_PROVIDER_ERROR"],
  },
  {
    ...pub,
    tag: "verification",
    method: "POST",
    path: "/webhooks/idenfy",
    summary: "iDenfy's verification webhook (HMAC-SHA256 of the raw body, hex, in `Idenfy-Signature`)",
    auth: anyone,
    body: z.record(z.string(), z.unknown()).describe("iDenfy's callback body"),
    headers: { "Idenfy-Signature": { required: true, description: "hex HMAC-SHA256 of the raw body" } },
    answers: { 200: emptyAnswerSchema },
    errors: ["INVALID_SIGNATURE", "NOT_FOUND"],
  },
  {
    ...pub,
    tag: "sessions",
    method: "POST",
    path: "/api/client/sessions/:id/payment",
    summary: "Confirm payment (development): pending_payment → active; idempotent",
    auth: customer,
    idempotent: true,
    params: sessionParams,
    body: noFieldsSchema,
    answers: { 200: sessionAnswerSchema },
    errors: ["NOT_FOUND", "SESSION_STATE"],
  },
  {
    ...pub,
    tag: "sessions",
    method: "POST",
    path: "/api/client/sessions/:id/extend",
    summary: "Extend an active session by 1–120 minutes",
    auth: customer,
    idempotent: true,
    params: sessionParams,
    body: extendBodySchema,
    answers: { 200: sessionAnswerSchema },
    errors: ["NOT_FOUND", "SESSION_STATE"],
  },
  ...sessionRoutes("client"),
  ...sessionRoutes("mitra"),
  ...deviceRoutes("client"),
  ...deviceRoutes("mitra"),
];
