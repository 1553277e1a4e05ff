import { Writable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { LogOtpProvider } from "../src/auth/otp-provider.js";
import { createLogger } from "../src/log.js";
import { startTestGateway, TestClock, type TestGateway } from "./support/gateway.js";
import { json } from "./support/http.js";
import { useGateways } from "./support/setup.js";

let gw: TestGateway;
const clock = new TestClock();
const ctx = useGateways({ now: clock.now, env: { ENABLE_TEST_ROUTES: "true", TRUST_PROXY: "true" } });
beforeAll(() => {
  gw = ctx.gateways[0] as TestGateway;
});

let seq = 0;
/** A phone no other test uses, as the national form 08…. */
const newPhone = (): string =>
  `0812${String(Date.now() % 1e4).padStart(4, "0")}${String(seq++).padStart(4, "0")}`;
const e164 = (national: string): string => `+62${national.slice(1)}`;
let ipSeq = 0;
const newIp = (): string => `10.1.${Math.floor(ipSeq / 250)}.${(ipSeq++ % 250) + 1}`;
const MINUTE = 60_000;

type Flow = "client" | "mitra";

function post(
  url: string,
  body: unknown,
  opts: { ip?: string; token?: string; raw?: boolean } = {},
): Promise<Response> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-forwarded-for": opts.ip ?? newIp(),
  };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return fetch(url, { method: "POST", headers, body: opts.raw ? (body as string) : JSON.stringify(body) });
}
const requestCode = (flow: Flow, phone: unknown, ip?: string) =>
  post(`${gw.publicUrl}/api/${flow}/auth/otp/request`, { phone }, ip ? { ip } : {});
const verify = (flow: Flow, requestId: string, code: string, token?: string) =>
  post(`${gw.publicUrl}/api/${flow}/auth/otp/verify`, { requestId, code }, token ? { token } : {});

async function lastCode(phone: string): Promise<string> {
  const res = await fetch(`${gw.internalUrl}/internal/_test/otp?phone=${encodeURIComponent(phone)}`);
  expect(res.status).toBe(200);
  return (await json(res)).code;
}
/** Requests a code and reads it back from the test route. */
async function codeFor(flow: Flow, phone: string): Promise<{ requestId: string; code: string }> {
  const res = await requestCode(flow, phone);
  expect(res.status).toBe(200);
  const { requestId } = await json(res);
  return { requestId, code: await lastCode(phone) };
}
const wrong = (code: string): string => String((Number(code) + 1) % 1_000_000).padStart(6, "0");
/** Moves past the resend cooldown so the same phone may ask again. */
const pastCooldown = (): void => clock.advance(MINUTE + 1000);

async function seedMitra(phone: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return post(`${gw.internalUrl}/internal/_test/seed-mitra`, { phone, displayName: "Mitra", ...extra });
}
async function expectError(res: Response, status: number, code: string) {
  const body = await json(res);
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  if (status === 429) {
    expect(body.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(res.headers.get("retry-after")).toBe(String(body.error.retryAfterSeconds));
  }
  return body.error;
}

describe("customer sign-in by phone code", () => {
  it("sends a 6-digit code and signs the customer in with it", async () => {
    const phone = newPhone();
    const res = await requestCode("client", phone);
    expect(res.status).toBe(200);
    const issued = await json(res);
    expect(issued).toEqual({
      requestId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      expiresInSeconds: 300,
      resendAfterSeconds: 60,
    });
    const code = await lastCode(phone);
    expect(code).toMatch(/^[0-9]{6}$/);

    const signed = await verify("client", issued.requestId, code);
    expect(signed.status).toBe(200);
    const pair = await json(signed);
    expect(pair).toMatchObject({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      expiresIn: 3600,
    });
    expect(pair.user).toMatchObject({ type: "customer", phone: e164(phone), isAnonymous: false });

    const me = await fetch(`${gw.publicUrl}/api/client/auth/me`, {
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    expect(await json(me)).toEqual(pair.user);
  });

  it("stores only a hash of the code", async () => {
    const phone = newPhone();
    const { requestId, code } = await codeFor("client", phone);
    const { rows } = await gw.pool.query("SELECT code_hash FROM otp_requests WHERE id = $1", [requestId]);
    expect(Buffer.isBuffer(rows[0].code_hash)).toBe(true);
    expect(rows[0].code_hash.toString("hex")).not.toContain(Buffer.from(code).toString("hex"));
    expect(rows[0].code_hash.length).toBe(32);
  });

  it("treats 08…, 62… and +62… as the same phone and the same customer", async () => {
    const national = newPhone();
    const ids = [];
    for (const form of [
      national,
      `62${national.slice(1)}`,
      `+62 ${national.slice(1, 4)}-${national.slice(4)}`,
    ]) {
      const res = await requestCode("client", form);
      expect(res.status).toBe(200);
      const { requestId } = await json(res);
      // The test route finds the code under any form of the number.
      const pair = await json(await verify("client", requestId, await lastCode(form)));
      expect(pair.user.phone).toBe(e164(national));
      ids.push(pair.user.id);
      pastCooldown();
    }
    expect(new Set(ids).size).toBe(1);
  });

  it("answers a phone that is not a string with VALIDATION_FAILED and a string that is no phone with INVALID_PHONE", async () => {
    for (const phone of [81234567890, null, true, ["081234567890"], { number: "0812" }]) {
      const err = await expectError(await requestCode("client", phone), 400, "VALIDATION_FAILED");
      expect(err.issues[0].path).toBe("phone");
    }
    for (const phone of [
      "",
      "hello",
      "0812",
      "+1",
      "x".repeat(10 * 1024),
      "0812345678901234567890",
      "<script>",
    ]) {
      await expectError(await requestCode("client", phone), 400, "INVALID_PHONE");
    }
  });

  it("answers hostile bodies with contract errors, never a 500", async () => {
    const url = `${gw.publicUrl}/api/client/auth/otp/request`;
    const cases: [unknown, number, string][] = [
      ["[]", 400, "VALIDATION_FAILED"],
      ['"0812"', 400, "VALIDATION_FAILED"],
      ["{not json", 400, "VALIDATION_FAILED"],
      [JSON.stringify({ phone: newPhone(), admin: true }), 400, "VALIDATION_FAILED"],
      [JSON.stringify({ __proto__: { phone: "081234567890" } }), 400, "VALIDATION_FAILED"],
      ["", 400, "VALIDATION_FAILED"],
      [JSON.stringify({ phone: "1".repeat(70 * 1024) }), 413, "PAYLOAD_TOO_LARGE"],
    ];
    for (const [body, status, code] of cases)
      await expectError(await post(url, body, { raw: true }), status, code);
    const verifyUrl = `${gw.publicUrl}/api/client/auth/otp/verify`;
    for (const body of [
      { requestId: "not-a-uuid", code: "123456" },
      { requestId: crypto.randomUUID(), code: 123456 },
      { requestId: crypto.randomUUID(), code: "12345" },
      { requestId: crypto.randomUUID(), code: "1234567" },
      { requestId: crypto.randomUUID(), code: "12345a" },
      { requestId: [crypto.randomUUID()], code: "123456" },
      { requestId: crypto.randomUUID(), code: "123456", extra: 1 },
    ]) {
      await expectError(await post(verifyUrl, body), 400, "VALIDATION_FAILED");
    }
  });

  it("answers an unknown request id with OTP_EXPIRED: the client needs a new code either way", async () => {
    await expectError(await verify("client", crypto.randomUUID(), "123456"), 400, "OTP_EXPIRED");
  });
});

describe("limits on asking for codes", () => {
  it("refuses a second code within the cooldown with RESEND_COOLDOWN and the seconds left", async () => {
    const phone = newPhone();
    expect((await requestCode("client", phone)).status).toBe(200);
    clock.advance(20_000);
    const err = await expectError(await requestCode("client", phone), 429, "RESEND_COOLDOWN");
    expect(err.retryAfterSeconds).toBe(40);
    clock.advance(40_000);
    expect((await requestCode("client", phone)).status).toBe(200);
  });

  it("applies the cooldown across the customer and mitra flows", async () => {
    const phone = newPhone();
    await seedMitra(phone);
    expect((await requestCode("client", phone)).status).toBe(200);
    await expectError(await requestCode("mitra", e164(phone)), 429, "RESEND_COOLDOWN");
  });

  it("keeps the cooldown after a successful sign-in", async () => {
    const phone = newPhone();
    const { requestId, code } = await codeFor("client", phone);
    expect((await verify("client", requestId, code)).status).toBe(200);
    await expectError(await requestCode("client", phone), 429, "RESEND_COOLDOWN");
  });

  it("allows five codes per phone an hour, then RATE_LIMITED until the oldest is an hour old", async () => {
    const phone = newPhone();
    for (let i = 0; i < 5; i++) {
      expect((await requestCode("client", phone)).status).toBe(200);
      pastCooldown();
    }
    // Five codes at 0, 61, 122, 183, 244 s; now is 305 s: the first leaves the window at 3600 s.
    const err = await expectError(await requestCode("client", phone), 429, "RATE_LIMITED");
    expect(err.retryAfterSeconds).toBe(3600 - 5 * 61);
    clock.advance(err.retryAfterSeconds * 1000);
    expect((await requestCode("client", phone)).status).toBe(200);
  });

  it("allows twenty codes an hour from one address, whatever the phones, then RATE_LIMITED", async () => {
    const ip = newIp();
    for (let i = 0; i < 20; i++) expect((await requestCode("client", newPhone(), ip)).status).toBe(200);
    const err = await expectError(await requestCode("client", newPhone(), ip), 429, "RATE_LIMITED");
    expect(err.retryAfterSeconds).toBeGreaterThan(3500);
    // Another address is not held back.
    expect((await requestCode("client", newPhone(), newIp())).status).toBe(200);
  });

  it("reads the limits from app_config at run time", async () => {
    await gw.pool.query("UPDATE app_config SET value = '5' WHERE key = 'otp_resend_cooldown_seconds'");
    gw.gateway.services.appConfig.invalidate();
    try {
      const phone = newPhone();
      const res = await requestCode("client", phone);
      expect((await json(res)).resendAfterSeconds).toBe(5);
      clock.advance(5_000);
      expect((await requestCode("client", phone)).status).toBe(200);
    } finally {
      await gw.pool.query("UPDATE app_config SET value = '60' WHERE key = 'otp_resend_cooldown_seconds'");
      gw.gateway.services.appConfig.invalidate();
    }
  });

  it("issues exactly one code when ten requests for one phone arrive at once", async () => {
    const phone = newPhone();
    const results = await Promise.all(Array.from({ length: 10 }, () => requestCode("client", phone)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, ...Array(9).fill(429)]);
    const { rows } = await gw.pool.query("SELECT count(*)::int AS n FROM otp_requests WHERE phone = $1", [
      e164(phone),
    ]);
    expect(rows[0].n).toBe(1);
  });

  it("holds across processes and without Valkey: a second gateway in Postgres-only mode sees the cooldown", async () => {
    const other = await startTestGateway({
      databaseUrl: ctx.db.url,
      valkeyUrl: null,
      now: clock.now,
      env: { TRUST_PROXY: "true" },
    });
    try {
      const phone = newPhone();
      expect((await requestCode("client", phone)).status).toBe(200);
      const res = await post(`${other.publicUrl}/api/client/auth/otp/request`, { phone });
      await expectError(res, 429, "RESEND_COOLDOWN");
    } finally {
      await other.close();
    }
  });
});

describe("checking codes", () => {
  it("counts wrong codes down to CODE_MISMATCH with 0 left, then ATTEMPTS_EXCEEDED even for the right code", async () => {
    const phone = newPhone();
    const { requestId, code } = await codeFor("client", phone);
    for (const left of [4, 3, 2, 1, 0]) {
      const err = await expectError(await verify("client", requestId, wrong(code)), 400, "CODE_MISMATCH");
      expect(err.attemptsRemaining).toBe(left);
    }
    // The failed attempts were committed although each request failed.
    const { rows } = await gw.pool.query("SELECT attempts FROM otp_requests WHERE id = $1", [requestId]);
    expect(rows[0].attempts).toBe(5);

    clock.advance(10_000);
    const right = await expectError(await verify("client", requestId, code), 429, "ATTEMPTS_EXCEEDED");
    // The seconds until a new code may be requested: what is left of the 60 s cooldown.
    expect(right.retryAfterSeconds).toBe(50);
    await expectError(await verify("client", requestId, wrong(code)), 429, "ATTEMPTS_EXCEEDED");

    clock.advance(50_000);
    const later = await expectError(await verify("client", requestId, code), 429, "ATTEMPTS_EXCEEDED");
    expect(later.retryAfterSeconds).toBe(1);
    const fresh = await codeFor("client", phone);
    expect((await verify("client", fresh.requestId, fresh.code)).status).toBe(200);
  });

  it("counts every one of many wrong codes sent at once", async () => {
    const { requestId, code } = await codeFor("client", newPhone());
    const results = await Promise.all(
      Array.from({ length: 10 }, () => verify("client", requestId, wrong(code))),
    );
    const bodies = await Promise.all(results.map((r) => json(r)));
    const mismatches = bodies
      .filter((b) => b.error.code === "CODE_MISMATCH")
      .map((b) => b.error.attemptsRemaining);
    expect(mismatches.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(bodies.filter((b) => b.error.code === "ATTEMPTS_EXCEEDED")).toHaveLength(5);
  });

  it("lets a code expire after otp_ttl_seconds", async () => {
    const { requestId, code } = await codeFor("client", newPhone());
    clock.advance(300_000);
    await expectError(await verify("client", requestId, code), 400, "OTP_EXPIRED");
  });

  it("accepts a code at most once", async () => {
    const { requestId, code } = await codeFor("client", newPhone());
    expect((await verify("client", requestId, code)).status).toBe(200);
    await expectError(await verify("client", requestId, code), 400, "OTP_USED");
  });

  it("voids an older code when a newer one is requested", async () => {
    const phone = newPhone();
    const first = await codeFor("client", phone);
    pastCooldown();
    const second = await codeFor("client", phone);
    await expectError(await verify("client", first.requestId, first.code), 400, "OTP_EXPIRED");
    expect((await verify("client", second.requestId, second.code)).status).toBe(200);
  });

  it("refuses a customer's code on the mitra route and a mitra's code on the customer route with WRONG_FLOW", async () => {
    const customer = await codeFor("client", newPhone());
    await expectError(await verify("mitra", customer.requestId, customer.code), 400, "WRONG_FLOW");
    const phone = newPhone();
    await seedMitra(phone);
    const mitra = await codeFor("mitra", phone);
    await expectError(await verify("client", mitra.requestId, mitra.code), 400, "WRONG_FLOW");
    // Neither attempt used the code up.
    expect((await verify("mitra", mitra.requestId, mitra.code)).status).toBe(200);
  });
});

describe("linking a phone to an anonymous customer", () => {
  const anonymous = async () =>
    json(await post(`${gw.publicUrl}/api/shared/auth/anonymous`, { displayName: "Ayu" }));

  it("keeps the anonymous customer's id and name and makes it a regular customer", async () => {
    const anon = await anonymous();
    const phone = newPhone();
    const { requestId, code } = await codeFor("client", phone);
    const res = await verify("client", requestId, code, anon.accessToken);
    expect(res.status).toBe(200);
    const { user } = await json(res);
    expect(user).toMatchObject({
      id: anon.user.id,
      displayName: "Ayu",
      phone: e164(phone),
      isAnonymous: false,
    });
    // Later sign-ins by that phone reach the same customer.
    pastCooldown();
    const again = await codeFor("client", phone);
    expect((await json(await verify("client", again.requestId, again.code))).user.id).toBe(anon.user.id);
  });

  it("answers IDENTITY_CONFLICT for a phone of another customer and leaves the code usable", async () => {
    const phone = newPhone();
    const first = await codeFor("client", phone);
    const owner = (await json(await verify("client", first.requestId, first.code))).user;
    pastCooldown();
    const anon = await anonymous();
    const { requestId, code } = await codeFor("client", phone);
    await expectError(await verify("client", requestId, code, anon.accessToken), 409, "IDENTITY_CONFLICT");
    const plain = await verify("client", requestId, code);
    expect((await json(plain)).user.id).toBe(owner.id);
  });

  it("answers IDENTITY_CONFLICT when the customer already has another phone", async () => {
    const anon = await anonymous();
    const a = await codeFor("client", newPhone());
    expect((await verify("client", a.requestId, a.code, anon.accessToken)).status).toBe(200);
    const b = await codeFor("client", newPhone());
    await expectError(
      await verify("client", b.requestId, b.code, anon.accessToken),
      409,
      "IDENTITY_CONFLICT",
    );
  });

  it("refuses a bad Bearer instead of ignoring it, and a mitra's Bearer with FORBIDDEN", async () => {
    const { requestId, code } = await codeFor("client", newPhone());
    await expectError(await verify("client", requestId, code, "not-a-token"), 401, "UNAUTHENTICATED");
    const mitraPhone = newPhone();
    await seedMitra(mitraPhone);
    const m = await codeFor("mitra", mitraPhone);
    const mitra = await json(await verify("mitra", m.requestId, m.code));
    await expectError(await verify("client", requestId, code, mitra.accessToken), 403, "FORBIDDEN");
  });
});

describe("mitra sign-in by phone code", () => {
  it("signs in a mitra created by the control center", async () => {
    const phone = newPhone();
    const seeded = await json(await seedMitra(phone, { displayName: "Budi", maxConcurrentSessions: 3 }));
    const { requestId, code } = await codeFor("mitra", `62${phone.slice(1)}`);
    const res = await verify("mitra", requestId, code);
    expect(res.status).toBe(200);
    const pair = await json(res);
    expect(pair.user).toMatchObject({
      id: seeded.id,
      type: "mitra",
      displayName: "Budi",
      phone: e164(phone),
    });
    const me = await fetch(`${gw.publicUrl}/api/mitra/auth/me`, {
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    const meBody = await json(me);
    expect(meBody).toEqual(pair.user);
    expect(meBody.maxConcurrentSessions).toBe(3);
    const asCustomer = await fetch(`${gw.publicUrl}/api/client/auth/me`, {
      headers: { authorization: `Bearer ${pair.accessToken}` },
    });
    await expectError(asCustomer, 403, "FORBIDDEN");
  });

  it("answers a request for an unknown phone exactly like a known one, sends nothing and never verifies", async () => {
    const known = newPhone();
    await seedMitra(known);
    const unknown = newPhone();
    const a = await requestCode("mitra", known);
    const b = await requestCode("mitra", unknown);
    expect(b.status).toBe(a.status);
    const [ja, jb] = [await json(a), await json(b)];
    expect({ ...jb, requestId: "x" }).toEqual({ ...ja, requestId: "x" });
    expect(jb.requestId).toMatch(/^[0-9a-f-]{36}$/);

    expect((await fetch(`${gw.internalUrl}/internal/_test/otp?phone=${unknown}`)).status).toBe(404);
    for (const [code, left] of [
      ["000000", 4],
      ["123456", 3],
    ] as const) {
      const err = await expectError(await verify("mitra", jb.requestId, code), 400, "CODE_MISMATCH");
      expect(err.attemptsRemaining).toBe(left);
    }
    // Same limits: the cooldown holds for the unknown phone too.
    await expectError(await requestCode("mitra", unknown), 429, "RESEND_COOLDOWN");
  });

  it("refuses a deactivated mitra with ACCOUNT_INACTIVE after the right code", async () => {
    const phone = newPhone();
    await seedMitra(phone, { isActive: false });
    const { requestId, code } = await codeFor("mitra", phone);
    await expectError(await verify("mitra", requestId, code), 403, "ACCOUNT_INACTIVE");
  });
});

describe("profile", () => {
  it("lets a customer read and rename themselves", async () => {
    const { requestId, code } = await codeFor("client", newPhone());
    const pair = await json(await verify("client", requestId, code));
    const auth = { authorization: `Bearer ${pair.accessToken}`, "content-type": "application/json" };
    const url = `${gw.publicUrl}/api/client/auth/profile`;
    const res = await fetch(url, {
      method: "PATCH",
      headers: auth,
      body: JSON.stringify({ displayName: "  Sari  " }),
    });
    expect(res.status).toBe(200);
    const user = await json(res);
    expect(user).toMatchObject({ id: pair.user.id, type: "customer", displayName: "Sari" });
    const me = await fetch(`${gw.publicUrl}/api/client/auth/me`, { headers: auth });
    expect(await json(me)).toEqual(user);
    for (const body of [
      {},
      { displayName: "" },
      { displayName: "x".repeat(81) },
      { displayName: 7 },
      { displayName: "A", id: "x" },
    ]) {
      await expectError(
        await fetch(url, { method: "PATCH", headers: auth, body: JSON.stringify(body) }),
        400,
        "VALIDATION_FAILED",
      );
    }
  });

  it("needs a token", async () => {
    await expectError(await fetch(`${gw.publicUrl}/api/client/auth/me`), 401, "UNAUTHENTICATED");
    await expectError(await fetch(`${gw.publicUrl}/api/mitra/auth/me`), 401, "UNAUTHENTICATED");
  });
});

describe("test routes", () => {
  it("seed a mitra once per phone: 201 the first time, 200 with the same id after", async () => {
    const phone = newPhone();
    const first = await seedMitra(phone);
    expect(first.status).toBe(201);
    const again = await seedMitra(`+62${phone.slice(1)}`, { displayName: "Other" });
    expect(again.status).toBe(200);
    expect((await json(again)).id).toBe((await json(first)).id);
    await expectError(await seedMitra("not a phone"), 400, "INVALID_PHONE");
    await expectError(
      await fetch(`${gw.internalUrl}/internal/_test/otp?phone=${newPhone()}`),
      404,
      "NOT_FOUND",
    );
  });

  it("are absent (404) unless ENABLE_TEST_ROUTES is on, and never on the public listener", async () => {
    await expectError(await fetch(`${gw.publicUrl}/internal/_test/otp?phone=081234567890`), 404, "NOT_FOUND");
    const off = await startTestGateway({ databaseUrl: ctx.db.url, valkeyUrl: null });
    try {
      await expectError(
        await fetch(`${off.internalUrl}/internal/_test/otp?phone=081234567890`),
        404,
        "NOT_FOUND",
      );
      await expectError(await seedMitraAt(off.internalUrl), 404, "NOT_FOUND");
    } finally {
      await off.close();
    }
  });
});

const seedMitraAt = (base: string) =>
  post(`${base}/internal/_test/seed-mitra`, { phone: newPhone(), displayName: "X" });

describe("the log provider", () => {
  it("writes the code to the log, and remembers the last code per phone only when asked", async () => {
    let out = "";
    const sink = new Writable({
      write(chunk, _enc, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const log = createLogger({ LOG_LEVEL: "info", NODE_ENV: "test" }, sink);
    const remembering = new LogOtpProvider(log, true);
    await remembering.send("+6281234567890", "424242", "customer");
    await remembering.send("+6281234567890", "515151", "customer");
    expect(out).toContain("424242");
    expect(remembering.lastCode("+6281234567890")).toBe("515151");
    const forgetful = new LogOtpProvider(log, false);
    await forgetful.send("+6281234567890", "616161", "mitra");
    expect(forgetful.lastCode("+6281234567890")).toBeUndefined();
  });
});
