import { createSecretKey } from "node:crypto";
import jwt from "jsonwebtoken";

/**
 * Signed-in customers or mitras made directly in Postgres, as
 * lib/signed-in-mitras.mjs makes mitras, but answering `{id, token}` per user:
 * a user row and an `auth_sessions` row each, and an access token signed here
 * as the gateway signs one (jsonwebtoken HS256, a KeyObject of the gateway's
 * secret, claims `{sub, typ, sid, iat, exp = iat + ttlSeconds}`).
 * Mitras: phone `+62` + `phonePrefix` + a 10-digit sequence number, `online`
 * sets `is_online` and `last_heartbeat_at` (now). Customers: anonymous rows.
 */
export async function signedInUsers(
  pool,
  userType,
  n,
  secret,
  { online = false, phonePrefix = "7", ttlSeconds = 3600 } = {},
) {
  const { rows } =
    userType === "mitra"
      ? await pool.query(
          `INSERT INTO mitras (phone, display_name, is_online, last_heartbeat_at)
           SELECT '+62' || $3::text || lpad(g::text, 10, '0'), 'Bench mitra ' || g, $2::boolean,
                  CASE WHEN $2::boolean THEN now() END
           FROM generate_series(1, $1::int) AS g ORDER BY g RETURNING id`,
          [n, online, phonePrefix],
        )
      : await pool.query(
          `INSERT INTO customers (display_name, is_anonymous)
           SELECT 'Bench customer ' || g, true FROM generate_series(1, $1::int) AS g ORDER BY g RETURNING id`,
          [n],
        );
  const ids = rows.map((x) => x.id);
  const sessions = await pool.query(
    `INSERT INTO auth_sessions (user_type, user_id)
     SELECT $2, u FROM UNNEST($1::uuid[]) WITH ORDINALITY AS x(u, i) ORDER BY i RETURNING id, user_id`,
    [ids, userType],
  );
  const sid = new Map(sessions.rows.map((s) => [s.user_id, s.id]));
  const key = createSecretKey(Buffer.from(secret, "utf8"));
  const iat = Math.floor(Date.now() / 1000);
  return ids.map((id) => ({
    id,
    token: jwt.sign({ sub: id, typ: userType, sid: sid.get(id), iat, exp: iat + ttlSeconds }, key, {
      algorithm: "HS256",
    }),
  }));
}
