-- Up Migration
-- The whole schema of contract v1. Postgres is the truth; Valkey mirrors parts of it.
-- Times are timestamptz (UTC); ids are uuids from gen_random_uuid() (built in since Postgres 13).

CREATE TABLE customers (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name  text,
  phone         text UNIQUE,
  google_sub    text UNIQUE,
  apple_sub     text UNIQUE,
  email         text,
  is_anonymous  boolean NOT NULL DEFAULT true,
  is_active     boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mitras (
  id                       uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  phone                    text NOT NULL UNIQUE,
  display_name             text NOT NULL,
  is_online                boolean NOT NULL DEFAULT false,
  is_active                boolean NOT NULL DEFAULT true,
  last_heartbeat_at        timestamptz,
  max_concurrent_sessions  integer NOT NULL DEFAULT 1 CHECK (max_concurrent_sessions BETWEEN 1 AND 100),
  verified_at              timestamptz,
  -- "longest idle first" when pairing: when the mitra last finished (or started) serving.
  last_session_at          timestamptz,
  created_at               timestamptz NOT NULL DEFAULT now(),
  updated_at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mitras_online_idx ON mitras (is_online) WHERE is_online;
CREATE INDEX mitras_display_name_idx ON mitras (lower(display_name));

CREATE TABLE mitra_status_log (
  id        bigserial PRIMARY KEY,
  mitra_id  uuid NOT NULL REFERENCES mitras (id) ON DELETE CASCADE,
  status    text NOT NULL CHECK (status IN ('online', 'offline', 'auto_offline', 'deactivated', 'activated')),
  at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mitra_status_log_mitra_at_idx ON mitra_status_log (mitra_id, at DESC, id DESC);

CREATE TABLE control_center_users (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email                text NOT NULL,
  password_hash        text,
  role                 text NOT NULL CHECK (role IN ('admin', 'operator')),
  status               text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'invited', 'disabled')),
  password_changed_at  timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX control_center_users_email_idx ON control_center_users (lower(email));

-- Failed logins are counted per submitted email, whether or not an account has it,
-- so a lockout reveals nothing about which emails exist.
CREATE TABLE cc_login_failures (
  email         text PRIMARY KEY,
  failed_count  integer NOT NULL DEFAULT 0,
  locked_until  timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One-time links that sign an operator in (invitation, password reset); only hashes are stored.
CREATE TABLE cc_link_tokens (
  id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id     uuid NOT NULL REFERENCES control_center_users (id) ON DELETE CASCADE,
  kind        text NOT NULL CHECK (kind IN ('invite', 'reset')),
  token_hash  bytea NOT NULL UNIQUE,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  voided_at   timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cc_link_tokens_user_kind_idx ON cc_link_tokens (user_id, kind);

-- Mail sent through the mail provider (the `log` provider and the test route read it).
CREATE TABLE mail_outbox (
  id          bigserial PRIMARY KEY,
  to_email    text NOT NULL,
  kind        text NOT NULL,
  link        text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mail_outbox_to_idx ON mail_outbox (lower(to_email), id DESC);

-- One signed-in device. user_id points at customers, mitras or control_center_users by user_type.
CREATE TABLE auth_sessions (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_type      text NOT NULL CHECK (user_type IN ('customer', 'mitra', 'cc')),
  user_id        uuid NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  last_used_at   timestamptz NOT NULL DEFAULT now(),
  revoked_at     timestamptz,
  revoke_reason  text,
  user_agent     text,
  ip             text
);
CREATE INDEX auth_sessions_user_idx ON auth_sessions (user_type, user_id) WHERE revoked_at IS NULL;
-- Each process polls this at least once a second for revocations while Valkey is down.
CREATE INDEX auth_sessions_revoked_at_idx ON auth_sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Opaque refresh tokens, stored only as keyed hashes; every use rotates to a successor.
CREATE TABLE refresh_tokens (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id    uuid NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
  token_hash    bytea NOT NULL UNIQUE,
  parent_id     uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
  issued_at     timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  rotated_at    timestamptz,
  successor_id  uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

CREATE TABLE otp_requests (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  phone         text NOT NULL,
  flow          text NOT NULL CHECK (flow IN ('customer', 'mitra')),
  code_hash     bytea NOT NULL,
  attempts      integer NOT NULL DEFAULT 0,
  ip            text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz,
  voided_at     timestamptz,
  -- Mitra requests for an unknown phone are recorded (same answer, same limits) but never verify.
  deliverable   boolean NOT NULL DEFAULT true
);
CREATE INDEX otp_requests_phone_created_idx ON otp_requests (phone, created_at DESC);
CREATE INDEX otp_requests_ip_created_idx ON otp_requests (ip, created_at DESC);

CREATE TABLE pairing_requests (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id      uuid NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  status           text NOT NULL DEFAULT 'searching' CHECK (status IN ('searching', 'matched', 'failed', 'cancelled')),
  fail_reason      text,
  matched_mitra_id uuid REFERENCES mitras (id),
  session_id       uuid,
  created_at       timestamptz NOT NULL DEFAULT now(),
  deadline_at      timestamptz NOT NULL,
  ended_at         timestamptz
);
CREATE UNIQUE INDEX pairing_requests_one_open_per_customer ON pairing_requests (customer_id) WHERE status = 'searching';

CREATE TABLE pairing_offers (
  request_id  uuid NOT NULL REFERENCES pairing_requests (id) ON DELETE CASCADE,
  mitra_id    uuid NOT NULL REFERENCES mitras (id) ON DELETE CASCADE,
  offered_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  outcome     text CHECK (outcome IN ('accepted', 'declined', 'taken', 'lapsed')),
  PRIMARY KEY (request_id, mitra_id)
);

CREATE TABLE chat_sessions (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  customer_id          uuid NOT NULL REFERENCES customers (id),
  mitra_id             uuid NOT NULL REFERENCES mitras (id),
  pairing_request_id   uuid REFERENCES pairing_requests (id),
  status               text NOT NULL DEFAULT 'pending_payment' CHECK (status IN ('pending_payment', 'active', 'ended')),
  end_reason           text CHECK (end_reason IN ('EXPIRED', 'PAYMENT_TIMEOUT', 'ENDED_BY_CUSTOMER', 'ENDED_BY_MITRA', 'REROUTED')),
  created_at           timestamptz NOT NULL DEFAULT now(),
  payment_deadline_at  timestamptz,
  paid_at              timestamptz,
  expires_at           timestamptz,
  ended_at             timestamptz
);
-- Capacity is recomputed from this: count of the mitra's sessions in active or pending_payment.
CREATE INDEX chat_sessions_mitra_open_idx ON chat_sessions (mitra_id) WHERE status IN ('active', 'pending_payment');
CREATE INDEX chat_sessions_customer_idx ON chat_sessions (customer_id, created_at DESC);
-- Timers restored at start and the overdue sweep scan only open sessions.
CREATE INDEX chat_sessions_open_deadlines_idx ON chat_sessions (status, expires_at, payment_deadline_at) WHERE status <> 'ended';

CREATE TABLE chat_messages (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  session_id     uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
  sender_type    text NOT NULL CHECK (sender_type IN ('customer', 'mitra')),
  sender_id      uuid NOT NULL,
  client_msg_id  text NOT NULL,
  text           text NOT NULL,
  seq            bigserial,
  created_at     timestamptz NOT NULL DEFAULT now(),
  UNIQUE (session_id, sender_id, client_msg_id)
);
CREATE INDEX chat_messages_session_seq_idx ON chat_messages (session_id, seq);

CREATE TABLE verifications (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  mitra_id        uuid NOT NULL REFERENCES mitras (id) ON DELETE CASCADE,
  provider        text NOT NULL,
  client_id       text NOT NULL,
  scan_ref        text UNIQUE,
  auth_token      text,
  redirect_url    text,
  status          text NOT NULL CHECK (status IN ('in_progress', 'approved', 'denied', 'suspected', 'expired')),
  status_reason   text,
  recreate_count  integer NOT NULL DEFAULT 0,
  expires_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verifications_mitra_idx ON verifications (mitra_id, created_at DESC);

-- Idempotent retries (contract §7): a key is scoped to the caller and the route.
CREATE TABLE idempotency_keys (
  scope            text NOT NULL,
  key              text NOT NULL,
  request_hash     text NOT NULL,
  state            text NOT NULL CHECK (state IN ('in_flight', 'done')),
  response_status  integer,
  response_body    jsonb,
  claimed_until    timestamptz NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Run-time tunables (contract §0), read through a short cache by every process.
CREATE TABLE app_config (
  key         text PRIMARY KEY,
  value       jsonb NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO app_config (key, value) VALUES
  ('otp_ttl_seconds', '300'),
  ('otp_max_attempts', '5'),
  ('otp_resend_cooldown_seconds', '60'),
  ('otp_max_per_phone_per_hour', '5'),
  ('otp_max_per_ip_per_hour', '20'),
  ('cc_max_failed_logins', '5'),
  ('cc_lockout_seconds', '900'),
  ('cc_invite_ttl_hours', '72'),
  ('cc_reset_ttl_minutes', '30'),
  ('pairing_blast_size', '5'),
  ('pairing_offer_ttl_seconds', '30'),
  ('pairing_max_wait_seconds', '120'),
  ('session_minutes', '30'),
  ('payment_timeout_seconds', '300');

-- Down Migration
DROP TABLE IF EXISTS app_config, idempotency_keys, verifications, chat_messages, chat_sessions,
  pairing_offers, pairing_requests, otp_requests, refresh_tokens, auth_sessions, mail_outbox,
  cc_link_tokens, cc_login_failures, control_center_users, mitra_status_log, mitras, customers;
