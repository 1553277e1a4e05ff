import { randomInt } from "node:crypto";
import { loadUser } from "../../src/auth/users.js";
import type { Queryable } from "../../src/db/pool.js";
import type { TestGateway } from "./gateway.js";

/** A mitra row straight in Postgres (the truth); the test decides whether to reseed Valkey. */
export async function seedMitra(
  db: Queryable,
  opts: {
    online?: boolean;
    active?: boolean;
    max?: number;
    heartbeatAt?: Date | null;
    verified?: boolean;
  } = {},
): Promise<string> {
  const phone = `+62812${randomInt(10_000_000, 99_999_999)}`;
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO mitras (phone, display_name, is_online, is_active, max_concurrent_sessions, last_heartbeat_at, verified_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [
      phone,
      `Mitra ${phone.slice(-4)}`,
      opts.online ?? false,
      opts.active ?? true,
      opts.max ?? 1,
      opts.heartbeatAt ?? null,
      opts.verified ? new Date() : null,
    ],
  );
  return (rows[0] as { id: string }).id;
}

/** A signed-in mitra's access token, minted through the gateway's own auth core. */
export async function mitraToken(gw: TestGateway, mitraId: string): Promise<string> {
  const user = await loadUser(gw.pool, "mitra", mitraId);
  if (!user) throw new Error("no such mitra");
  return (await gw.gateway.services.auth.signIn(gw.pool, user.view)).pair.accessToken;
}

/** A customer row and an open chat session of `mitraId` in `status` (capacity counts these). */
export async function openSession(db: Queryable, mitraId: string, status = "active"): Promise<string> {
  const c = await db.query<{ id: string }>("INSERT INTO customers (display_name) VALUES ('c') RETURNING id");
  const { rows } = await db.query<{ id: string }>(
    "INSERT INTO chat_sessions (customer_id, mitra_id, status) VALUES ($1, $2, $3) RETURNING id",
    [(c.rows[0] as { id: string }).id, mitraId, status],
  );
  return (rows[0] as { id: string }).id;
}
