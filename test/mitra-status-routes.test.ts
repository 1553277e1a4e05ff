import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousCustomer } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_URL } from "./support/env.js";
import { startTestGateway, TestClock, type TestGateway } from "./support/gateway.js";
import {
  ADMIN_ENV,
  call,
  mitraState,
  operatorToken,
  type SignedInMitra,
  signedInMitra,
} from "./support/people.js";
import { testPrefix } from "./support/valkey.js";

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const STALE_SECONDS = 90;

let db: TestDatabase;
let gw: TestGateway;
let ccToken: string;
let customerToken: string;
const clock = new TestClock();
const prefix = testPrefix();
const env = { ENABLE_TEST_ROUTES: "true", TRUST_PROXY: "true", ...ADMIN_ENV };

beforeAll(async () => {
  db = await createTestDatabase();
  gw = await startTestGateway({
    databaseUrl: db.url,
    valkeyUrl: TEST_VALKEY_URL,
    prefix,
    now: clock.now,
    env,
  });
  [ccToken, customerToken] = await Promise.all([
    operatorToken(gw),
    anonymousCustomer(gw.publicUrl).then((p) => p.accessToken),
  ]);
});
afterAll(async () => {
  await gw?.close();
  await db?.drop();
});

type Action = "online" | "offline" | "heartbeat";
const status = (m: SignedInMitra | string, action: Action, raw?: string) =>
  call(`${gw.publicUrl}/api/mitra/status/${action}`, {
    method: "POST",
    token: typeof m === "string" ? m : m.accessToken,
    ...(raw === undefined ? {} : { raw }),
  });
const patchMitra = (id: string, body: unknown) =>
  call(`${gw.internalUrl}/internal/mitras/${id}`, { method: "PATCH", token: ccToken, body });
const errorOf = (r: { status: number; body: { error?: { code?: string } } | undefined }) => ({
  status: r.status,
  code: r.body?.error?.code,
});

describe("a mitra going online and offline", () => {
  it("going online answers {online:true} and marks the mitra online in Postgres and Valkey with a heartbeat of now", async () => {
    const m = await signedInMitra(gw);
    const res = await status(m, "online");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ online: true });

    const s = await mitraState(gw, m.id);
    expect(s.postgres).toMatchObject({ online: true, active: true });
    expect(s.valkey).toMatchObject({ online: true, deactivated: false, max: "1", capacity: "0" });
    expect(s.valkey.heartbeat).toMatch(ISO_MS);
    // Going online records a heartbeat, in both stores, at the gateway's time.
    expect(s.postgres.heartbeatAt).toBe(s.valkey.heartbeat);
    expect(Math.abs(Date.parse(s.valkey.heartbeat as string) - clock.now().getTime())).toBeLessThan(2000);
  });

  it("going offline answers {online:false} and clears the mitra from the online set and its heartbeat", async () => {
    const m = await signedInMitra(gw);
    await status(m, "online");
    const res = await status(m, "offline");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ online: false });

    const s = await mitraState(gw, m.id);
    expect(s.postgres).toMatchObject({ online: false, active: true });
    expect(s.valkey).toMatchObject({ online: false, deactivated: false, heartbeat: null });
  });

  it("going offline while already offline still answers {online:false}", async () => {
    const m = await signedInMitra(gw);
    const res = await status(m, "offline");
    expect({ status: res.status, body: res.body }).toEqual({ status: 200, body: { online: false } });
    expect((await mitraState(gw, m.id)).postgres.online).toBe(false);
  });

  it("a heartbeat answers 204 and does not set an offline mitra online", async () => {
    const m = await signedInMitra(gw);
    const res = await status(m, "heartbeat");
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();

    const s = await mitraState(gw, m.id);
    expect(s.postgres.online).toBe(false);
    expect(s.valkey.online).toBe(false);
  });

  it("a heartbeat of an online mitra moves its Valkey heartbeat forward and keeps it online", async () => {
    const m = await signedInMitra(gw);
    await status(m, "online");
    const before = (await mitraState(gw, m.id)).valkey.heartbeat as string;
    clock.advance(5000);
    expect((await status(m, "heartbeat")).status).toBe(204);
    await gw.gateway.services.avail.heartbeats.flushBehind(); // written behind the answer

    const s = await mitraState(gw, m.id);
    expect(s.valkey.online).toBe(true);
    expect(s.postgres.online).toBe(true);
    expect(Date.parse(s.valkey.heartbeat as string) - Date.parse(before)).toBeGreaterThanOrEqual(5000);
  });
});

describe("who may change a mitra's presence", () => {
  it("a mitra deactivated in the database is refused going online with ACCOUNT_INACTIVE and stays offline", async () => {
    const m = await signedInMitra(gw);
    // Deactivated without the control center: its token stays valid, so the route itself must refuse.
    await gw.pool.query("UPDATE mitras SET is_active = false WHERE id = $1", [m.id]);

    expect(errorOf(await status(m, "online"))).toEqual({ status: 403, code: "ACCOUNT_INACTIVE" });
    const s = await mitraState(gw, m.id);
    expect(s.postgres.online).toBe(false);
    expect(s.valkey.online).toBe(false);

    // Once the mirror knows (the reseed makes it, and refreshes every process's in-memory copy), its
    // heartbeats are refused too.
    await gw.gateway.services.scheduler.runNow("reseed");
    expect(errorOf(await status(m, "heartbeat"))).toEqual({ status: 403, code: "ACCOUNT_INACTIVE" });
  });

  it("a mitra deactivated by an operator finds its access token revoked on every status route", async () => {
    const m = await signedInMitra(gw);
    await status(m, "online");
    expect((await patchMitra(m.id, { isActive: false })).status).toBe(200);

    for (const action of ["online", "offline", "heartbeat"] as const) {
      expect(errorOf(await status(m, action))).toEqual({ status: 401, code: "SESSION_REVOKED" });
    }
    const s = await mitraState(gw, m.id);
    expect(s.postgres).toMatchObject({ online: false, active: false });
    expect(s.valkey).toMatchObject({ online: false, deactivated: true });
  });

  it("with VERIFICATION_REQUIRED an unverified mitra is refused going online and a verified one goes online", async () => {
    const strict = await startTestGateway({
      databaseUrl: db.url,
      valkeyUrl: TEST_VALKEY_URL,
      prefix,
      now: clock.now,
      env: { ...env, VERIFICATION_REQUIRED: "true" },
    });
    try {
      const unverified = await signedInMitra(strict);
      const res = await call(`${strict.publicUrl}/api/mitra/status/online`, {
        method: "POST",
        token: unverified.accessToken,
      });
      expect(errorOf(res)).toEqual({ status: 403, code: "VERIFICATION_REQUIRED" });
      const s = await mitraState(strict, unverified.id);
      expect(s.postgres.online).toBe(false);
      expect(s.valkey.online).toBe(false);

      const verified = await signedInMitra(strict, { verified: true });
      const ok = await call(`${strict.publicUrl}/api/mitra/status/online`, {
        method: "POST",
        token: verified.accessToken,
      });
      expect({ status: ok.status, body: ok.body }).toEqual({ status: 200, body: { online: true } });
      expect((await mitraState(strict, verified.id)).valkey.online).toBe(true);
    } finally {
      await strict.close();
    }
  });

  it("without VERIFICATION_REQUIRED an unverified mitra may go online", async () => {
    const m = await signedInMitra(gw, { verified: false });
    expect((await status(m, "online")).status).toBe(200);
  });

  it("customer and operator tokens are refused on the mitra status routes, and no token is 401", async () => {
    for (const action of ["online", "offline", "heartbeat"] as const) {
      expect(errorOf(await status(customerToken, action))).toEqual({ status: 403, code: "FORBIDDEN" });
      expect(errorOf(await status(ccToken, action))).toEqual({ status: 403, code: "FORBIDDEN" });
      const anonymous = await call(`${gw.publicUrl}/api/mitra/status/${action}`, { method: "POST" });
      expect(errorOf(anonymous)).toEqual({ status: 401, code: "UNAUTHENTICATED" });
      expect(errorOf(await status("not-a-jwt", action))).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    }
  });

  it("the status routes answer 405 to a GET", async () => {
    const m = await signedInMitra(gw);
    const res = await call(`${gw.publicUrl}/api/mitra/status/online`, {
      method: "GET",
      token: m.accessToken,
    });
    expect(errorOf(res)).toEqual({ status: 405, code: "METHOD_NOT_ALLOWED" });
  });
});

describe("bodies the status routes refuse", () => {
  let m: SignedInMitra;
  beforeAll(async () => {
    m = await signedInMitra(gw);
  });

  it("an empty body or {} is accepted", async () => {
    expect((await status(m, "online", "")).status).toBe(200);
    expect((await status(m, "heartbeat", "{}")).status).toBe(204);
    expect((await status(m, "offline", "{}")).status).toBe(200);
  });

  it("a body that is not JSON, is not an object or carries fields is VALIDATION_FAILED and changes nothing", async () => {
    for (const action of ["online", "offline", "heartbeat"] as const) {
      for (const raw of ["{bad", "[]", "null", '"online"', '{"online":true}', '{"__proto__":{"x":1}}']) {
        const res = await status(m, action, raw);
        expect({ action, raw, ...errorOf(res) }).toEqual({
          action,
          raw,
          status: 400,
          code: "VALIDATION_FAILED",
        });
        expect(res.body.error.issues).toEqual(expect.any(Array));
      }
    }
    expect((await mitraState(gw, m.id)).postgres.online).toBe(false);
  });

  it("a body over 64 KiB is PAYLOAD_TOO_LARGE", async () => {
    for (const action of ["online", "offline", "heartbeat"] as const) {
      const res = await status(m, action, `{"pad":"${"x".repeat(70 * 1024)}"}`);
      expect(errorOf(res)).toEqual({ status: 413, code: "PAYLOAD_TOO_LARGE" });
    }
    expect((await mitraState(gw, m.id)).postgres.online).toBe(false);
  });
});

describe("the public availability beacon", () => {
  /** The beacon is a 10 s snapshot shared by all processes: drop it so the next read recomputes. */
  const freshBeacon = async () => {
    await gw.valkey?.del(gw.gateway.services.keys.availabilitySnapshot);
    return call(`${gw.publicUrl}/api/client/availability`);
  };

  it("answers {available, asOf} with no token, asOf ISO-8601 with milliseconds and not older than 10 s", async () => {
    const res = await call(`${gw.publicUrl}/api/client/availability`);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(["asOf", "available"]);
    expect(Number.isInteger(res.body.available)).toBe(true);
    expect(res.body.asOf).toMatch(ISO_MS);
    const age = clock.now().getTime() - Date.parse(res.body.asOf);
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThanOrEqual(10_000);
  });

  it("counts only mitras that are online, active, freshly heard from and below capacity", async () => {
    // A mitra that went online before the clock moved past HEARTBEAT_STALE_SECONDS is stale.
    const stale = await signedInMitra(gw);
    await status(stale, "online");
    clock.advance((STALE_SECONDS + 1) * 1000);
    const baseline = (await freshBeacon()).body.available;
    expect(baseline).toBe(0);

    const available = await signedInMitra(gw);
    const roomy = await signedInMitra(gw, { maxConcurrentSessions: 2 });
    const full = await signedInMitra(gw);
    const deactivated = await signedInMitra(gw);
    const offline = await signedInMitra(gw);
    for (const m of [available, roomy, full, deactivated, offline]) await status(m, "online");
    await status(offline, "offline");
    await patchMitra(deactivated.id, { isActive: false });
    // One open chat session each: `full` (max 1) is at capacity, `roomy` (max 2) is not.
    const [{ id: customerId }] = (
      await gw.pool.query<{ id: string }>("INSERT INTO customers (display_name) VALUES ('C') RETURNING id")
    ).rows as [{ id: string }];
    for (const m of [full, roomy]) {
      await gw.pool.query(
        "INSERT INTO chat_sessions (customer_id, mitra_id, status) VALUES ($1, $2, 'active')",
        [customerId, m.id],
      );
      await gw.valkey?.set(gw.gateway.services.keys.mitraCapacity(m.id), "1");
    }

    const res = await freshBeacon();
    expect(res.status).toBe(200);
    expect(res.body.available).toBe(2);
    expect(Math.abs(Date.parse(res.body.asOf) - clock.now().getTime())).toBeLessThan(2000);
  });

  it("is served the same to a customer with a token", async () => {
    const res = await call(`${gw.publicUrl}/api/client/availability`, { token: customerToken });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ available: expect.any(Number), asOf: expect.stringMatching(ISO_MS) });
  });
});
