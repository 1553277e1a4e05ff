import { z } from "zod";

/**
 * Run-time tunables kept in the `app_config` table (contract §0). Defaults are
 * seeded by the first migration; the same values stand here in case a row is
 * missing. Each key is validated on write (PATCH /internal/config).
 */
const int = (min: number, max: number) => z.number().int().min(min).max(max);

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
});

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
};
