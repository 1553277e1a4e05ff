import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_TUNABLES } from "../src/app-config/tunables.js";
import { anonymousCustomer } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_URL } from "./support/env.js";
import { startTestGateway, type TestGateway, waitFor } from "./support/gateway.js";
import {
  ADMIN_ENV,
  call,
  newMitraPhone,
  newOperatorToken,
  operatorToken,
  type Reply,
  signedInMitra,
} from "./support/people.js";
import { testPrefix } from "./support/valkey.js";

let db: TestDatabase;
let gw: TestGateway;
let admin: string;
const prefix = testPrefix();
const env = { ENABLE_TEST_ROUTES: "true", TRUST_PROXY: "true", ...ADMIN_ENV };

beforeAll(async () => {
  db = await createTestDatabase();
  gw = await startTestGateway({ databaseUrl: db.url, valkeyUrl: TEST_VALKEY_URL, prefix, env });
  admin = await operatorToken(gw);
});
afterAll(async () => {
  await gw?.close();
  await db?.drop();
});

const getConfig = (token = admin, base = gw.internalUrl): Promise<Reply> =>
  call(`${base}/internal/config`, { token });
const patchConfig = (body: unknown, token = admin): Promise<Reply> =>
  call(`${gw.internalUrl}/internal/config`, { method: "PATCH", token, body });
const patchRaw = (raw: string): Promise<Reply> =>
  call(`${gw.internalUrl}/internal/config`, { method: "PATCH", token: admin, raw });
const errorOf = (r: Reply) => ({ status: r.status, code: r.body?.error?.code });

/** What app_config holds, key → value. */
async function stored(): Promise<Record<string, unknown>> {
  const { rows } = await gw.pool.query<{ key: string; value: unknown }>("SELECT key, value FROM app_config");
  return Object.fromEntries(rows.map((r) => [r.key, r.value]));
}

describe("reading the tunables", () => {
  it("an admin gets every tunable with its value", async () => {
    const res = await getConfig();
    expect(res.status).toBe(200);
    expect(res.body).toEqual(DEFAULT_TUNABLES);
    expect(res.body).toMatchObject({
      otp_ttl_seconds: 300,
      otp_max_attempts: 5,
      otp_resend_cooldown_seconds: 60,
      otp_max_per_phone_per_hour: 5,
      otp_max_per_ip_per_hour: 20,
      cc_max_failed_logins: 5,
      cc_lockout_seconds: 900,
      cc_invite_ttl_hours: 72,
      cc_reset_ttl_minutes: 30,
    });
  });
});

describe("changing a tunable", () => {
  it("answers 200 with every tunable, the new value among them, and stores it", async () => {
    const res = await patchConfig({ otp_max_attempts: 3 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...DEFAULT_TUNABLES, otp_max_attempts: 3 });
    expect((await getConfig()).body.otp_max_attempts).toBe(3);
    expect((await stored()).otp_max_attempts).toBe(3);
  });

  it("changes several keys at once, and an empty change changes nothing", async () => {
    const res = await patchConfig({ pairing_blast_size: 7, session_minutes: 45 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ pairing_blast_size: 7, session_minutes: 45 });
    const before = await stored();
    const empty = await patchConfig({});
    expect(empty.status).toBe(200);
    expect(await stored()).toEqual(before);
  });

  it("refuses an unknown key, naming it, and writes nothing of the request", async () => {
    const before = await stored();
    for (const key of [
      "otp_max_attempt",
      "OTP_MAX_ATTEMPTS",
      "constructor",
      "toString",
      "hasOwnProperty",
      "__proto__",
      "",
    ]) {
      const res = await patchRaw(`{"otp_ttl_seconds": 120, ${JSON.stringify(key)}: 3}`);
      expect({ key, ...errorOf(res) }).toEqual({ key, status: 400, code: "VALIDATION_FAILED" });
      expect({ key, issues: res.body.error.issues }).toEqual({
        key,
        issues: [{ path: key, message: expect.any(String) }],
      });
    }
    expect(await stored()).toEqual(before);
  });

  it("refuses a bad value, naming its key, and writes nothing of the request", async () => {
    const before = await stored();
    // Raw JSON texts of bad values (1e400 parses to Infinity).
    for (const value of ['"3"', "0", "21", "1.5", "-1", "null", "true", "[]", "{}", "1e400"]) {
      const raw = `{"session_minutes": 50, "otp_max_attempts": ${value}}`;
      const res = await patchRaw(raw);
      expect({ raw, ...errorOf(res) }).toEqual({ raw, status: 400, code: "VALIDATION_FAILED" });
      expect({ raw, paths: res.body.error.issues.map((i: { path: string }) => i.path) }).toEqual({
        raw,
        paths: ["otp_max_attempts"],
      });
    }
    // Two bad keys are both named.
    const two = await patchConfig({ otp_ttl_seconds: 1, cc_lockout_seconds: "long" });
    expect(two.body.error.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      "cc_lockout_seconds",
      "otp_ttl_seconds",
    ]);
    expect(await stored()).toEqual(before);
  });

  it("push_chat_preview is off by default, takes a boolean and refuses anything else", async () => {
    expect((await getConfig()).body.push_chat_preview).toBe(false);
    for (const value of ['"true"', "1", "0", "null", "[]"]) {
      const res = await patchRaw(`{"push_chat_preview": ${value}}`);
      expect({ value, ...errorOf(res) }).toEqual({ value, status: 400, code: "VALIDATION_FAILED" });
      expect(res.body.error.issues.map((i: { path: string }) => i.path)).toEqual(["push_chat_preview"]);
    }
    const on = await patchConfig({ push_chat_preview: true });
    expect(on.status).toBe(200);
    expect(on.body.push_chat_preview).toBe(true);
    expect((await stored()).push_chat_preview).toBe(true);
    expect((await patchConfig({ push_chat_preview: false })).body.push_chat_preview).toBe(false);
  });

  it("refuses a body that is not a JSON object, and one over 64 KiB, never with a 500", async () => {
    const before = await stored();
    for (const raw of ["{", "[]", "null", "3", '"otp_max_attempts"', '[{"otp_max_attempts":3}]', "\u0000"]) {
      expect({ raw, ...errorOf(await patchRaw(raw)) }).toEqual({
        raw,
        status: 400,
        code: "VALIDATION_FAILED",
      });
    }
    const big = JSON.stringify({ otp_max_attempts: 4, pad: "x".repeat(70 * 1024) });
    expect(errorOf(await patchRaw(big))).toEqual({ status: 413, code: "PAYLOAD_TOO_LARGE" });
    expect(await stored()).toEqual(before);
  });

  it("a change reaches a second gateway on the same database within 5 s", async () => {
    const other = await startTestGateway({ databaseUrl: db.url, valkeyUrl: TEST_VALKEY_URL, prefix, env });
    try {
      const otherAdmin = await operatorToken(other);
      const seen = async () => (await getConfig(otherAdmin, other.internalUrl)).body.otp_max_attempts;
      // The second gateway has read (and cached) the current value.
      const current = await seen();
      const next = current === 2 ? 4 : 2;
      expect((await patchConfig({ otp_max_attempts: next })).status).toBe(200);
      const ms = await waitFor(async () => (await seen()) === next, 5000, 100);
      expect(ms).toBeLessThan(5000);

      // And it governs what users there see: a wrong code leaves next - 1 attempts.
      const phone = newMitraPhone();
      const req = await call(`${other.publicUrl}/api/client/auth/otp/request`, { body: { phone } });
      expect(req.status).toBe(200);
      const wrong = await call(`${other.publicUrl}/api/client/auth/otp/verify`, {
        body: { requestId: req.body.requestId, code: "000000" },
      });
      const { code } = (await call(`${other.internalUrl}/internal/_test/otp?phone=${phone}`)).body;
      if (code !== "000000") {
        expect(wrong.status).toBe(400);
        expect(wrong.body.error).toMatchObject({ code: "CODE_MISMATCH", attemptsRemaining: next - 1 });
      }
    } finally {
      await other.close();
    }
  });
  it("a change reaches a gateway that misses the announcement within 5 s, through its short cache", async () => {
    // Another key prefix: the config channel it listens on is not the one the first gateway announces on.
    const deaf = await startTestGateway({
      databaseUrl: db.url,
      valkeyUrl: TEST_VALKEY_URL,
      prefix: testPrefix(),
      env,
    });
    try {
      const deafAdmin = await operatorToken(deaf);
      const seen = async () => (await getConfig(deafAdmin, deaf.internalUrl)).body.pairing_offer_ttl_seconds;
      const next = (await seen()) === 40 ? 50 : 40;
      expect((await patchConfig({ pairing_offer_ttl_seconds: next })).status).toBe(200);
      expect(await waitFor(async () => (await seen()) === next, 5000, 100)).toBeLessThan(5000);
    } finally {
      await deaf.close();
    }
  });
});

describe("who may read and change the tunables", () => {
  it("an operator who is not an admin is FORBIDDEN to read or change them", async () => {
    const operator = await newOperatorToken(gw, admin);
    expect(errorOf(await getConfig(operator))).toEqual({ status: 403, code: "FORBIDDEN" });
    const before = await stored();
    expect(errorOf(await patchConfig({ otp_max_attempts: 9 }, operator))).toEqual({
      status: 403,
      code: "FORBIDDEN",
    });
    expect(await stored()).toEqual(before);
  });

  it("customer and mitra tokens are FORBIDDEN and no token is UNAUTHENTICATED", async () => {
    const [customer, mitra] = await Promise.all([anonymousCustomer(gw.publicUrl), signedInMitra(gw)]);
    for (const token of [customer.accessToken, mitra.accessToken]) {
      expect(errorOf(await getConfig(token))).toEqual({ status: 403, code: "FORBIDDEN" });
      expect(errorOf(await patchConfig({ otp_max_attempts: 9 }, token))).toEqual({
        status: 403,
        code: "FORBIDDEN",
      });
    }
    const anonymous = await call(`${gw.internalUrl}/internal/config`);
    expect(errorOf(anonymous)).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    const anonymousPatch = await call(`${gw.internalUrl}/internal/config`, {
      method: "PATCH",
      body: { otp_max_attempts: 9 },
    });
    expect(errorOf(anonymousPatch)).toEqual({ status: 401, code: "UNAUTHENTICATED" });
    expect((await stored()).otp_max_attempts).not.toBe(9);
  });

  it("the tunables are not served on the public listener", async () => {
    expect((await call(`${gw.publicUrl}/internal/config`, { token: admin })).status).toBe(404);
  });
});
