import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_ENV } from "./support/env.js";
import { type SpawnedGateway, spawnGateway, TEST_JWT_SECRET, waitFor } from "./support/gateway.js";
import { QUIET_SWEEPS } from "./support/setup.js";
import { testPrefix } from "./support/valkey.js";

/** Needs `npm run build` (it runs dist/main.js). */
let db: TestDatabase;
let pool: pg.Pool;
const children: SpawnedGateway[] = [];
beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  // A child killed by a signal has no exit code: only those still running are stopped.
  for (const c of children)
    if (c.child.exitCode === null && c.child.signalCode === null) await c.stop("SIGKILL");
  await pool?.end();
  await db?.drop();
});

/** A customer, a mitra, and a session between them in `status` whose deadline is `at`. */
async function sessionDueAt(status: "pending_payment" | "active", at: Date): Promise<string> {
  const c = await pool.query<{ id: string }>(
    "INSERT INTO customers (display_name) VALUES ('c') RETURNING id",
  );
  const m = await pool.query<{ id: string }>(
    "INSERT INTO mitras (phone, display_name) VALUES ('+62812' || (random() * 1e8)::int, 'm') RETURNING id",
  );
  const deadline = status === "active" ? "expires_at" : "payment_deadline_at";
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO chat_sessions (customer_id, mitra_id, status, paid_at, ${deadline})
     VALUES ($1, $2, $3, CASE WHEN $3 = 'active' THEN now() END, $4) RETURNING id`,
    [c.rows[0]?.id, m.rows[0]?.id, status, at],
  );
  return rows[0]?.id as string;
}

describe("a gateway killed with SIGKILL", () => {
  it("loses no ending: the next process restores the timers and ends each session on time", async () => {
    const env = {
      DATABASE_URL: db.url,
      ...TEST_VALKEY_ENV,
      VALKEY_KEY_PREFIX: testPrefix(),
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      // No sweep may do the work in this test: only restored timers.
      ...QUIET_SWEEPS,
    };
    // Room for two process starts on a loaded machine (each took up to 10 s under a parallel suite).
    const due = new Date(Date.now() + 25_000);
    const pending = await sessionDueAt("pending_payment", due);
    const active = await sessionDueAt("active", due);

    // The first process restores both timers at start, then dies without a word.
    const first = await spawnGateway(env);
    children.push(first);
    expect((await first.stop("SIGKILL")).code).toBeNull();

    const second = await spawnGateway(env);
    children.push(second);
    expect(Date.now()).toBeLessThan(due.getTime());
    await waitFor(
      async () => {
        const { rows } = await pool.query("SELECT 1 FROM chat_sessions WHERE status = 'ended'");
        return rows.length === 2;
      },
      35_000,
      100,
    );
    const endedSeenAt = Date.now();
    // A timer, not the hourly sweep: the sessions ended right at their deadline.
    expect(endedSeenAt - due.getTime()).toBeLessThan(1500);
    const { rows } = await pool.query<{ id: string; end_reason: string; ended_at: Date }>(
      "SELECT id, end_reason, ended_at FROM chat_sessions WHERE id = ANY($1::uuid[])",
      [[pending, active]],
    );
    const byId = Object.fromEntries(rows.map((r) => [r.id, r]));
    expect(byId[pending]?.end_reason).toBe("PAYMENT_TIMEOUT");
    expect(byId[active]?.end_reason).toBe("EXPIRED");
    for (const r of rows) expect(r.ended_at.toISOString()).toBe(due.toISOString());
    await second.stop("SIGTERM");
  }, 60_000);

  it("a deadline that passed while no process ran ends as soon as one starts, at the time it was due", async () => {
    const missed = new Date(Date.now() - 5000);
    const id = await sessionDueAt("active", missed);
    const gw = await spawnGateway({
      DATABASE_URL: db.url,
      ...TEST_VALKEY_ENV,
      VALKEY_KEY_PREFIX: testPrefix(),
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ...QUIET_SWEEPS,
    });
    children.push(gw);
    await waitFor(
      async () =>
        (await pool.query("SELECT 1 FROM chat_sessions WHERE id = $1 AND status = 'ended'", [id])).rows
          .length === 1,
      2000,
    );
    const { rows } = await pool.query<{ end_reason: string; ended_at: Date }>(
      "SELECT end_reason, ended_at FROM chat_sessions WHERE id = $1",
      [id],
    );
    expect(rows[0]?.end_reason).toBe("EXPIRED");
    expect(rows[0]?.ended_at.toISOString()).toBe(missed.toISOString());
    await gw.stop("SIGTERM");
  }, 60_000);
});
