import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { DEFAULT_TUNABLES } from "../src/app-config/tunables.js";
import { Retention } from "../src/sweeps/retention.js";
import { TestClock, type TestGateway } from "./support/gateway.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";

const clock = new TestClock();
const ctx = useGateways({ count: 2, now: clock.now, env: QUIET_SWEEPS });
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;
const db = () => gw(0).pool;

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** A time `ms` before (negative: after) the gateways' clock. */
const ago = (ms: number): Date => new Date(clock.now().getTime() - ms);

async function idempotencyKey(o: { createdAgo: number; state?: "done" | "in_flight"; leaseLeft?: number }) {
  const key = randomUUID();
  // A done row's lease ended 30 s after its claim; an in-flight one has `leaseLeft` ms to go.
  const lease = o.leaseLeft === undefined ? ago(o.createdAgo - 30_000) : ago(-o.leaseLeft);
  await db().query(
    `INSERT INTO idempotency_keys (scope, key, request_hash, state, response_body, claimed_until, created_at)
     VALUES ('cc:test:route', $1, 'h', $2, '{}', $3, $4)`,
    [key, o.state ?? "done", lease, ago(o.createdAgo)],
  );
  return key;
}

async function otpRequest(createdAgo: number): Promise<string> {
  const { rows } = await db().query(
    `INSERT INTO otp_requests (phone, flow, code_hash, ip, created_at, expires_at)
     VALUES ($1, 'customer', $2, '10.0.0.1', $3, $4) RETURNING id`,
    [
      `+62812${randomBytes(4).readUInt32BE() % 1e8}`,
      randomBytes(32),
      ago(createdAgo),
      ago(createdAgo - 5 * MIN),
    ],
  );
  return rows[0].id;
}

async function loginFailures(o: { updatedAgo: number; lockedUntil: Date | null }): Promise<string> {
  const email = `someone-${randomUUID()}@halo.test`;
  await db().query(
    "INSERT INTO cc_login_failures (email, failed_count, locked_until, updated_at) VALUES ($1, 3, $2, $3)",
    [email, o.lockedUntil, ago(o.updatedAgo)],
  );
  return email;
}

let operatorId: string | undefined;
async function linkToken(o: { expiresAgo: number; usedAgo?: number; voidedAgo?: number }): Promise<string> {
  if (!operatorId) {
    const { rows } = await db().query(
      "INSERT INTO control_center_users (email, role, status) VALUES ($1, 'operator', 'invited') RETURNING id",
      [`invitee-${randomUUID()}@halo.test`],
    );
    operatorId = rows[0].id as string;
  }
  const at = (v: number | undefined) => (v === undefined ? null : ago(v));
  const { rows } = await db().query(
    `INSERT INTO cc_link_tokens (user_id, kind, token_hash, expires_at, used_at, voided_at, created_at)
     VALUES ($1, 'invite', $2, $3, $4, $5, $6) RETURNING id`,
    [
      operatorId,
      randomBytes(32),
      ago(o.expiresAgo),
      at(o.usedAgo),
      at(o.voidedAgo),
      ago(o.expiresAgo + 72 * HOUR),
    ],
  );
  return rows[0].id;
}

async function present(table: string, column: string, values: string[]): Promise<string[]> {
  const { rows } = await db().query(`SELECT ${column} AS v FROM ${table} WHERE ${column} = ANY($1)`, [
    values,
  ]);
  return values.filter((v) => rows.some((r) => r.v === v));
}

const runRetention = (i = 0) => gw(i).gateway.services.scheduler.runNow("retention");

describe("the retention sweep", () => {
  it("deletes rows past their life and keeps the live ones", async () => {
    const keys = {
      old: await idempotencyKey({ createdAgo: DAY + MIN }),
      fresh: await idempotencyKey({ createdAgo: 23 * HOUR }),
      oldButClaimed: await idempotencyKey({ createdAgo: DAY + MIN, state: "in_flight", leaseLeft: 10_000 }),
      oldLapsedClaim: await idempotencyKey({ createdAgo: DAY + MIN, state: "in_flight", leaseLeft: -10_000 }),
    };
    const otps = { old: await otpRequest(DAY + HOUR), recent: await otpRequest(2 * HOUR) };
    const lockout = DEFAULT_TUNABLES.cc_lockout_seconds * 1000;
    const failures = {
      quietStreak: await loginFailures({ updatedAgo: lockout + MIN, lockedUntil: null }),
      liveStreak: await loginFailures({ updatedAgo: lockout - MIN, lockedUntil: null }),
      lockoutOver: await loginFailures({ updatedAgo: lockout + MIN, lockedUntil: ago(MIN) }),
      lockedNow: await loginFailures({ updatedAgo: lockout + MIN, lockedUntil: ago(-MIN) }),
    };
    const links = {
      voidedLongAgo: await linkToken({ expiresAgo: -DAY, voidedAgo: DAY + MIN }),
      voidedToday: await linkToken({ expiresAgo: -DAY, voidedAgo: HOUR }),
      usedLongAgo: await linkToken({ expiresAgo: 20 * DAY, usedAgo: 31 * DAY }),
      usedThisWeek: await linkToken({ expiresAgo: -DAY, usedAgo: 2 * DAY }),
      expiredLongAgo: await linkToken({ expiresAgo: 31 * DAY }),
      expiredThisWeek: await linkToken({ expiresAgo: 2 * DAY }),
      live: await linkToken({ expiresAgo: -HOUR }),
    };

    const r = await runRetention();
    expect(r).toMatchObject({ outcome: "done" });

    expect(await present("idempotency_keys", "key", Object.values(keys))).toEqual([
      keys.fresh,
      keys.oldButClaimed,
    ]);
    expect(await present("otp_requests", "id::text", Object.values(otps))).toEqual([otps.recent]);
    expect(await present("cc_login_failures", "email", Object.values(failures))).toEqual([
      failures.liveStreak,
      failures.lockedNow,
    ]);
    expect(await present("cc_link_tokens", "id::text", Object.values(links))).toEqual([
      links.voidedToday,
      links.usedThisWeek,
      links.expiredThisWeek,
      links.live,
    ]);
  });

  it("works through a backlog in batches", async () => {
    const keys = await Promise.all(Array.from({ length: 10 }, () => idempotencyKey({ createdAgo: 2 * DAY })));
    const appConfig = gw(0).gateway.services.appConfig;
    const small = new Retention({ pool: db(), now: clock.now, appConfig, batchSize: 3 });
    const r = await small.run();
    expect(r).toMatchObject({ outcome: "done" });
    expect(r.outcome === "done" && r.changed).toBeGreaterThanOrEqual(10);
    expect(await present("idempotency_keys", "key", keys)).toEqual([]);

    // A run stops after maxBatches; the next run carries on.
    const more = await Promise.all(Array.from({ length: 10 }, () => idempotencyKey({ createdAgo: 2 * DAY })));
    const capped = new Retention({ pool: db(), now: clock.now, appConfig, batchSize: 3, maxBatches: 2 });
    await capped.run();
    expect(await present("idempotency_keys", "key", more)).toHaveLength(4);
    await capped.run();
    await capped.run();
    expect(await present("idempotency_keys", "key", more)).toEqual([]);
  });

  it("runs in one process at a time: another process holding the sweep's lock makes it skip", async () => {
    const key = await idempotencyKey({ createdAgo: 2 * DAY });
    const holder = new pg.Client({ connectionString: ctx.db.url });
    await holder.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT pg_advisory_xact_lock(7201, 4)");
      expect(await runRetention(1)).toEqual({ outcome: "skipped" });
      expect(await present("idempotency_keys", "key", [key])).toEqual([key]);
    } finally {
      await holder.query("ROLLBACK");
      await holder.end();
    }
    const [a, b] = await Promise.all([runRetention(0), runRetention(1)]);
    const changed = [a, b].map((r) => (r?.outcome === "done" ? r.changed : 0));
    expect(changed.reduce((x, y) => x + y, 0)).toBe(1);
    expect(await present("idempotency_keys", "key", [key])).toEqual([]);
  });
});
