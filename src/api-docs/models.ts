import type { z } from "zod";
import * as p from "../protocol/index.js";

/**
 * The answers' shapes by the name the documents give them (their
 * `components.schemas` keys). A schema listed here is referred to by name
 * wherever it appears; an answer not listed is named after its operation.
 */
export const MODELS: Readonly<Record<string, z.ZodType>> = {
  ErrorCode: p.errorCodeSchema,
  Issue: p.issueSchema,
  Error: p.errorBodySchema,
  CustomerUser: p.customerUserSchema,
  MitraUser: p.mitraUserSchema,
  OperatorUser: p.operatorUserSchema,
  AppUser: p.appUserSchema,
  TokenPair: p.tokenPairSchema,
  OtpIssued: p.otpIssuedSchema,
  OperatorSignIn: p.operatorSignInSchema,
  OperatorLinkSignIn: p.operatorLinkSignInSchema,
  OperatorList: p.operatorListSchema,
  PasswordResetAccepted: p.passwordResetAcceptedSchema,
  Tunables: p.tunablesSchema,
  Availability: p.availabilitySchema,
  OnlineState: p.onlineStateSchema,
  DashboardCounts: p.dashboardCountsSchema,
  DashboardHistory: p.dashboardHistorySchema,
  MitraItem: p.mitraItemSchema,
  MitraList: p.mitraListSchema,
  MitraLog: p.mitraLogSchema,
  Session: p.sessionSchema,
  Message: p.messageSchema,
  SessionAnswer: p.sessionAnswerSchema,
  SessionList: p.sessionListSchema,
  MessagePage: p.messagePageSchema,
  OperatorSessionList: p.operatorSessionListSchema,
  PairingStatus: p.pairingStatusSchema,
  Verification: p.verificationSchema,
  VerificationItem: p.verificationItemSchema,
  VerificationList: p.verificationListSchema,
  Health: p.healthSchema,
  Readiness: p.readinessSchema,
  SeededMitra: p.seededMitraSchema,
  TestOtp: p.testOtpSchema,
  TestMail: p.testMailSchema,
  Empty: p.emptyAnswerSchema,
};

/** The models as `schema → name`, ready for `componentSchemas`. */
export function modelNames(): Map<z.ZodType, string> {
  return new Map(Object.entries(MODELS).map(([name, schema]) => [schema, name]));
}

/** `POST /api/client/sessions/:id/end` → `postApiClientSessionsByIdEnd`; a trailing `/` reads `Index`. */
export function operationId(method: string, path: string): string {
  const words = `${path}${path.endsWith("/") ? "index" : ""}`
    .split("/")
    .filter(Boolean)
    .map((seg) => (seg.startsWith(":") ? `by-${seg.slice(1)}` : seg))
    .flatMap((seg) => seg.split(/[^A-Za-z0-9]+/))
    .filter(Boolean);
  return [method.toLowerCase(), ...words.map((w) => w[0]?.toUpperCase() + w.slice(1))].join("");
}
