import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { migrate } from "../src/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";

const TABLES = [
  "app_config",
  "auth_sessions",
  "chat_messages",
  "chat_sessions",
  "control_center_users",
  "customers",
  "idempotency_keys",
  "mitra_status_log",
  "mitras",
  "otp_requests",
  "push_devices",
  "refresh_tokens",
  "verifications",
];

const dbs: TestDatabase[] = [];
afterAll(async () => {
  for (const db of dbs) await db.drop();
});

async function tables(url: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const { rows } = await c.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
  );
  await c.end();
  return rows.map((r) => r.table_name);
}

describe("migrations", () => {
  it("create the whole schema on an empty database, and a second run changes nothing", async () => {
    const db = await createTestDatabase({ empty: true });
    dbs.push(db);
    const first = await migrate(db.url);
    expect(first.length).toBeGreaterThan(0);
    const created = await tables(db.url);
    for (const t of TABLES) expect(created).toContain(t);

    const second = await migrate(db.url);
    expect(second).toEqual([]);
    expect(await tables(db.url)).toEqual(created);
  });

  it("seed the app_config defaults", async () => {
    const db = await createTestDatabase({ empty: true });
    dbs.push(db);
    await migrate(db.url);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query<{ key: string; value: number | boolean }>(
      "SELECT key, value FROM app_config",
    );
    await c.end();
    const cfg = Object.fromEntries(rows.map((r) => [r.key, r.value]));
    expect(cfg).toMatchObject({
      otp_ttl_seconds: 300,
      otp_max_attempts: 5,
      otp_resend_cooldown_seconds: 60,
      otp_max_per_phone_per_hour: 5,
      otp_max_per_ip_per_hour: 20,
      cc_max_failed_logins: 5,
      cc_lockout_seconds: 900,
      pairing_blast_size: 5,
      pairing_offer_ttl_seconds: 30,
      pairing_max_wait_seconds: 120,
      payment_timeout_seconds: 300,
      push_chat_preview: false,
    });
  });

  it("are safe when several processes start at once", async () => {
    const db = await createTestDatabase({ empty: true });
    dbs.push(db);
    const results = await Promise.all([migrate(db.url), migrate(db.url), migrate(db.url), migrate(db.url)]);
    // Exactly one runner applied the migrations; the others waited and found nothing to do.
    expect(results.filter((r) => r.length > 0)).toHaveLength(1);
    expect(results.filter((r) => r.length === 0)).toHaveLength(3);
    expect(await tables(db.url)).toContain("mitras");
  });
});
