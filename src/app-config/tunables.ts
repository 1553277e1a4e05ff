import type { z } from "zod";
import { tunablesSchema } from "../protocol/index.js";

/**
 * Run-time tunables kept in the `app_config` table (contract §0). Defaults are
 * seeded by the first migration; the same values stand here in case a row is
 * missing. Each key is validated on write (PATCH /internal/config) with the
 * protocol's schema, which the API documents show.
 */
export { tunablesSchema };

export type Tunables = z.infer<typeof tunablesSchema>;
export type TunableKey = keyof Tunables;

export const DEFAULT_TUNABLES: Tunables = {
  otp_ttl_seconds: 300,
  otp_max_attempts: 5,
  otp_resend_cooldown_seconds: 60,
  otp_max_per_phone_per_hour: 5,
  otp_max_per_ip_per_hour: 20,
  cc_max_failed_logins: 5,
  cc_lockout_seconds: 900,
  cc_invite_ttl_hours: 72,
  cc_reset_ttl_minutes: 30,
  pairing_blast_size: 5,
  pairing_offer_ttl_seconds: 30,
  pairing_max_wait_seconds: 120,
  session_minutes: 30,
  payment_timeout_seconds: 300,
  push_chat_preview: false,
};
