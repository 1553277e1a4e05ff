import { createSecretKey } from "node:crypto";
import jwt from "jsonwebtoken";

/**
 * Signed-in mitras made directly in Postgres: a `mitras` row and an
 * `auth_sessions` row (`user_type` mitra) each, and an access token signed
 * here as the gateway signs one (jsonwebtoken HS256, a KeyObject of the
 * gateway's secret, claims `{sub, typ: "mitra", sid, iat, exp = iat + 3600}`).
 * Phones are `+62` + `phonePrefix` + a 10-digit sequence number; `online`
 * sets `is_online` (and `last_heartbeat_at` to now).
 */
export async function signedInMitras(pool, n, secret, { online = true, phonePrefix = "9" } = {}) {
  const { rows } = await pool.query(
    `INSERT INTO mitras (phone, display_name, is_online, last_heartbeat_at)
     SELECT '+62' || $3::text || lpad(g::text, 10, '0'), 'Bench mitra ' || g, $2::boolean,
            CASE WHEN $2::boolean THEN now() END
     FROM generate_series(1, $1::int) AS g RETURNING id`,
    [n, online, phonePrefix],
  );
  const mitraIds = rows.map((x) => x.id);
  const sessions = await pool.query(
    `INSERT INTO auth_sessions (user_type, user_id) SELECT 'mitra', u FROM UNNEST($1::uuid[]) AS u
     RETURNING id, user_id`,
    [mitraIds],
  );
  const key = createSecretKey(Buffer.from(secret, "utf8"));
  const iat = Math.floor(Date.now() / 1000);
  return sessions.rows.map((s) =>
    jwt.sign({ sub: s.user_id, typ: "mitra", sid: s.id, iat, exp: iat + 3600 }, key, { algorithm: "HS256" }),
  );
}
