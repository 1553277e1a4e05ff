-- Up Migration
-- The push token of each signed-in device (contract §11): one per auth session, a token on one
-- session only. A revocation deletes the session's row in the statement that revokes it
-- (src/auth/auth-sessions.ts); the cascade covers a session row that is deleted outright.
CREATE TABLE push_devices (
  auth_session_id  uuid PRIMARY KEY REFERENCES auth_sessions (id) ON DELETE CASCADE,
  user_type        text NOT NULL CHECK (user_type IN ('customer', 'mitra')),
  user_id          uuid NOT NULL,
  platform         text NOT NULL CHECK (platform IN ('android', 'ios')),
  token            text NOT NULL UNIQUE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The push dispatcher looks up a user's devices.
CREATE INDEX push_devices_user_idx ON push_devices (user_type, user_id);

-- Whether a chat push carries the message's text (off: ids only).
INSERT INTO app_config (key, value) VALUES ('push_chat_preview', 'false') ON CONFLICT (key) DO NOTHING;

-- Down Migration
DELETE FROM app_config WHERE key = 'push_chat_preview';
DROP TABLE push_devices;
