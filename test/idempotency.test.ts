import { randomUUID } from "node:crypto";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { TestClock, type TestGateway, waitFor } from "./support/gateway.js";
import {
  ADMIN_ENV,
  call,
  e164,
  newMitraPhone,
  newOperatorToken,
  operatorToken,
  type Reply,
} from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";

const clock = new TestClock();
const ctx = useGateways({ now: clock.now, env: { ...QUIET_SWEEPS, ...ADMIN_ENV } });
let gw: TestGateway;
let admin: string;
let adminId: string;

beforeAll(async () => {
  gw = ctx.gateways[0] as TestGateway;
  admin = await operatorToken(gw);
  adminId = (await call(`${gw.internalUrl}/internal/auth/me`, { token: admin })).body.id;
});

const MITRAS = "/internal/mitras";
const USERS = "/internal/control-center-users";

/** A POST as the dashboard sends it, with an Idempotency-Key when given. */
async function post(path: string, body: unknown, key?: string, token = admin): Promise<Reply> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    authorization: `Bearer ${token}`,
  };
  if (key !== undefined) headers["idempotency-key"] = key;
  const res = await fetch(`${gw.internalUrl}${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const mitraBody = () => ({ phone: newMitraPhone(), displayName: "Ayu Lestari" });
const mitrasWithPhone = async (national: string): Promise<number> =>
  (await gw.pool.query("SELECT count(*)::int AS n FROM mitras WHERE phone = $1", [e164(national)])).rows[0].n;
const keyRow = async (key: string) =>
  (await gw.pool.query("SELECT * FROM idempotency_keys WHERE key = $1", [key])).rows;

/**
 * Holds a mitra's phone in an open transaction: a create of that phone waits
 * on the unique index until `release`, so a request stays in flight for as
 * long as the test needs.
 */
async function holdPhone(national: string): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: ctx.db.url });
  await c.connect();
  await c.query("BEGIN");
  await c.query("INSERT INTO mitras (phone, display_name) VALUES ($1, 'held')", [e164(national)]);
  return {
    release: async () => {
      await c.query("ROLLBACK");
      await c.end();
    },
  };
}

describe("a retried create", () => {
  it("answers a lost response's retry with the first result and creates nothing more", async () => {
    const key = randomUUID();
    const body = mitraBody();
    const first = await post(MITRAS, body, key);
    expect(first.status).toBe(201);
    // The same body with its keys in another order is the same request.
    const again = await post(MITRAS, { displayName: body.displayName, phone: body.phone }, key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(await mitrasWithPhone(body.phone)).toBe(1);
  });

  it("refuses the same key with a different body: 422 IDEMPOTENCY_KEY_REUSED", async () => {
    const key = randomUUID();
    const body = mitraBody();
    expect((await post(MITRAS, body, key)).status).toBe(201);
    const other = { ...body, displayName: "Someone Else" };
    const res = await post(MITRAS, other, key);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    expect(await mitrasWithPhone(body.phone)).toBe(1);
  });

  it("answers a duplicate sent while the first is running with 409 REQUEST_IN_PROGRESS, then the first result", async () => {
    const key = randomUUID();
    const body = mitraBody();
    const held = await holdPhone(body.phone);
    let firstReply: Promise<Reply> | undefined;
    try {
      firstReply = post(MITRAS, body, key);
      await waitFor(async () => (await keyRow(key)).length === 1, 5000);
      const duplicate = await post(MITRAS, body, key);
      expect(duplicate.status).toBe(409);
      expect(duplicate.body.error.code).toBe("REQUEST_IN_PROGRESS");
    } finally {
      await held.release();
    }
    const first = await firstReply;
    expect(first?.status).toBe(201);
    const retry = await post(MITRAS, body, key);
    expect(retry.status).toBe(201);
    expect(retry.body).toEqual(first?.body);
    expect(await mitrasWithPhone(body.phone)).toBe(1);
  });

  it("takes over a claim whose process died once its 30 s lease has passed", async () => {
    const key = randomUUID();
    const body = mitraBody();
    const now = clock.now();
    // What a process leaves when it dies after claiming the key, before the work commits.
    await gw.pool.query(
      `INSERT INTO idempotency_keys (scope, key, request_hash, state, claimed_until, created_at)
       VALUES ($1, $2, $3, 'in_flight', $4, $5)`,
      [
        `cc:${adminId}:POST ${MITRAS}`,
        key,
        gw.gateway.services.idempotency.requestHash({ params: {}, body }),
        new Date(now.getTime() + 30_000),
        now,
      ],
    );
    expect((await post(MITRAS, body, key)).body.error.code).toBe("REQUEST_IN_PROGRESS");

    clock.advance(31_000);
    const taken = await post(MITRAS, body, key);
    expect(taken.status).toBe(201);
    const replay = await post(MITRAS, body, key);
    expect(replay.body).toEqual(taken.body);
    expect(await mitrasWithPhone(body.phone)).toBe(1);
    expect((await keyRow(key))[0]).toMatchObject({ state: "done" });
  });

  it("replays a 4xx result as it was first answered", async () => {
    const key = randomUUID();
    const body = { phone: "12", displayName: "No Phone" };
    const first = await post(MITRAS, body, key);
    expect(first.status).toBe(400);
    expect(first.body.error.code).toBe("INVALID_PHONE");
    expect((await keyRow(key))[0]).toMatchObject({ state: "done", response_status: 400 });
    const again = await post(MITRAS, body, key);
    expect(again.status).toBe(400);
    expect(again.body).toEqual(first.body);
  });

  it("keeps no 409: a retry after the conflict clears runs again", async () => {
    const key = randomUUID();
    const body = mitraBody();
    await gw.pool.query("INSERT INTO mitras (phone, display_name) VALUES ($1, 'taken')", [e164(body.phone)]);
    const conflict = await post(MITRAS, body, key);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe("PHONE_TAKEN");
    expect(await keyRow(key)).toHaveLength(0);

    await gw.pool.query("DELETE FROM mitras WHERE phone = $1", [e164(body.phone)]);
    expect((await post(MITRAS, body, key)).status).toBe(201);
  });
});

describe("a key's scope", () => {
  it("is the caller: another operator's same key is a request of its own", async () => {
    const key = randomUUID();
    const operator = await newOperatorToken(gw, admin);
    const mine = await post(MITRAS, mitraBody(), key);
    const theirs = await post(MITRAS, mitraBody(), key, operator);
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(201);
    expect(theirs.body.id).not.toBe(mine.body.id);
  });

  it("is the route: the same key on operator creation is not the mitra's", async () => {
    const key = randomUUID();
    expect((await post(MITRAS, mitraBody(), key)).status).toBe(201);
    const email = `invitee-${randomUUID()}@halo.test`;
    const invited = await post(USERS, { email, role: "operator" }, key);
    expect(invited.status).toBe(201);
    expect(invited.body).toMatchObject({ email, status: "invited" });
    // And operator creation replays too.
    const again = await post(USERS, { role: "operator", email }, key);
    expect(again.status).toBe(201);
    expect(again.body).toEqual(invited.body);
  });
});

describe("the Idempotency-Key header", () => {
  it.each([
    ["empty", ""],
    ["longer than 200 characters", "k".repeat(201)],
    ["not printable ASCII", "schlüssel"],
  ])("is refused when %s: 400 VALIDATION_FAILED, nothing created", async (_why, key) => {
    const body = mitraBody();
    const res = await post(MITRAS, body, key);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.issues[0].path).toBe("Idempotency-Key");
    expect(await mitrasWithPhone(body.phone)).toBe(0);
  });

  it("of 200 characters is accepted", async () => {
    expect((await post(MITRAS, mitraBody(), "k".repeat(200))).status).toBe(201);
  });

  it("with a body holding a lone surrogate answers 400, never 500", async () => {
    const res = await post(MITRAS, { phone: newMitraPhone(), displayName: "bad \ud800 name" }, randomUUID());
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: "VALIDATION_FAILED",
      message: "Body is not canonicalisable JSON",
    });
  });

  it("with a body that is not JSON answers 400 and keeps nothing", async () => {
    const key = randomUUID();
    const res = await fetch(`${gw.internalUrl}${MITRAS}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${admin}`,
        "idempotency-key": key,
      },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(await keyRow(key)).toHaveLength(0);
  });
});

// Last: it moves the clock a day on (access tokens signed before then have expired).
describe("after 24 h", () => {
  it("a key answers as new: its old row is replaced", async () => {
    const key = randomUUID();
    expect((await post(MITRAS, mitraBody(), key)).status).toBe(201);
    clock.advance(24 * 3_600_000 + 1000);
    admin = await operatorToken(gw);
    const other = mitraBody();
    const res = await post(MITRAS, other, key);
    expect(res.status).toBe(201);
    expect(await mitrasWithPhone(other.phone)).toBe(1);
    expect(await keyRow(key)).toHaveLength(1);
  });
});
