import { z } from "zod";
import { operatorRoleSchema, operatorUserSchema } from "./auth-schemas.js";
import { withoutNul } from "./common.js";

/** Generous caps: the password policy (≤ 72 bytes) answers PASSWORD_POLICY, not VALIDATION_FAILED. */
const passwordField = z.string().max(1024);
/** Postgres keeps failed-login counts and reset requests by email: no NUL. */
const emailField = withoutNul(z.string().max(320));
const linkToken = z.string().max(512);

// ---- control-center sign-in and links (contract §2, §9) ------------------------------------------

export const loginBodySchema = z.object({ email: emailField, password: passwordField }).strict();
export const passwordResetRequestBodySchema = z.object({ email: emailField }).strict();
export const acceptInviteBodySchema = z.object({ token: linkToken, password: passwordField }).strict();
export const passwordResetConfirmBodySchema = z
  .object({ token: linkToken, newPassword: passwordField })
  .strict();

/** A login or refresh of an operator; the refresh token travels only in the `cc_refresh` cookie. */
export const operatorSignInSchema = z.object({
  accessToken: z.string(),
  expiresIn: z.number().int(),
  user: operatorUserSchema,
});

/** Accepting an invitation or confirming a reset signs in at once. */
export const operatorLinkSignInSchema = operatorSignInSchema.extend({ sessionEstablished: z.literal(true) });

/** `POST /internal/auth/password-reset/request` answers this whether or not the email is known. */
export const passwordResetAcceptedSchema = z.object({ accepted: z.literal(true) });

// ---- operator accounts (admin) -------------------------------------------------------------------

/** Without `password` it invites: the operator sets one through the mailed link. */
export const operatorCreateBodySchema = z
  .object({ email: z.email().max(254), role: operatorRoleSchema, password: passwordField.optional() })
  .strict();
export const operatorRoleBodySchema = z.object({ role: operatorRoleSchema }).strict();
export const ownPasswordBodySchema = z
  .object({ currentPassword: passwordField, newPassword: passwordField })
  .strict();
export const forcedPasswordBodySchema = z.object({ newPassword: passwordField }).strict();

export const operatorListSchema = z.object({ items: z.array(operatorUserSchema) });

// ---- run-time tunables (app_config) ---------------------------------------------------------------

const int = (min: number, max: number) => z.number().int().min(min).max(max);

/** Every `app_config` tunable with its range; each key is validated on write (PATCH /internal/config). */
export const tunablesSchema = z.object({
  otp_ttl_seconds: int(30, 3600),
  otp_max_attempts: int(1, 20),
  otp_resend_cooldown_seconds: int(0, 3600),
  otp_max_per_phone_per_hour: int(1, 1000),
  otp_max_per_ip_per_hour: int(1, 100000),
  cc_max_failed_logins: int(1, 100),
  cc_lockout_seconds: int(1, 86400),
  cc_invite_ttl_hours: int(1, 720),
  cc_reset_ttl_minutes: int(1, 1440),
  pairing_blast_size: int(1, 50),
  pairing_offer_ttl_seconds: int(5, 600),
  pairing_max_wait_seconds: int(5, 3600),
  session_minutes: int(1, 1440),
  payment_timeout_seconds: int(10, 86400),
  /** Whether a chat push carries the message text (contract §11); off, a push names the message only. */
  push_chat_preview: z.boolean(),
});

/** Any subset of the tunables; an unknown key is VALIDATION_FAILED naming it. */
export const configPatchBodySchema = tunablesSchema.partial().strict();
