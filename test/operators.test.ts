import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withTransaction } from "../src/db/pool.js";
import { anonymousCustomer } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_URL } from "./support/env.js";
import { startTestGateway, TestClock, type TestGateway } from "./support/gateway.js";
import { testPrefix } from "./support/valkey.js";

const ADMIN_EMAIL = "admin@halo.test";
const ADMIN_PASSWORD = "Adm1n-Secret-42";
const GOOD = "Blue-Harbor-77";
const OTHER_GOOD = "Quiet-Maple-31";

let db: TestDatabase;
let gw: TestGateway;
const clock = new TestClock();

beforeAll(async () => {
  db = await createTestDatabase();
  gw = await startTestGateway({
    databaseUrl: db.url,
    valkeyUrl: TEST_VALKEY_URL,
    prefix: testPrefix(),
    now: clock.now,
    env: { ENABLE_TEST_ROUTES: "true", ADMIN_EMAIL, ADMIN_PASSWORD },
  });
});
afterAll(async () => {
  await gw?.close();
  await db?.drop();
});

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary JSON
  body: any;
  headers: Headers;
  /** The cc_refresh Set-Cookie of the reply, parsed, if there is one. */
  cookie?: ParsedCookie;
}

interface ParsedCookie {
  value: string;
  /** Attribute names lower-cased; flags map to "". */
  attrs: Record<string, string>;
}

function parseSetCookie(line: string): { name: string } & ParsedCookie {
  const [pair = "", ...rest] = line.split(";");
  const eq = pair.indexOf("=");
  const attrs: Record<string, string> = {};
  for (const a of rest) {
    const i = a.indexOf("=");
    if (i < 0) attrs[a.trim().toLowerCase()] = "";
    else attrs[a.slice(0, i).trim().toLowerCase()] = a.slice(i + 1).trim();
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attrs };
}

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; token?: string; cookie?: string; base?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.cookie !== undefined) headers.cookie = `cc_refresh=${opts.cookie}`;
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(`${opts.base ?? gw.internalUrl}${path}`, {
    method,
    headers,
    ...(payload === undefined ? {} : { body: payload }),
  });
  const text = await res.text();
  const cookieLine = res.headers.getSetCookie().find((l) => l.startsWith("cc_refresh="));
  return {
    status: res.status,
    body: text ? JSON.parse(text) : undefined,
    headers: res.headers,
    ...(cookieLine ? { cookie: parseSetCookie(cookieLine) } : {}),
  };
}

const login = (email: string, password: string, base?: string) =>
  call("POST", "/internal/auth/login", { body: { email, password }, ...(base ? { base } : {}) });
const me = (token: string) => call("GET", "/internal/auth/me", { token });

async function adminToken(): Promise<string> {
  const r = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
  expect(r.status).toBe(200);
  return r.body.accessToken;
}

let serial = 0;
/** A new active operator (one bcrypt hash); returns its id and email. */
async function newOperator(admin: string, role: "admin" | "operator" = "operator", password = GOOD) {
  const email = `op${++serial}-${Date.now()}@halo.test`;
  const r = await call("POST", "/internal/control-center-users", {
    token: admin,
    body: { email, password, role },
  });
  expect(r.status).toBe(201);
  return { id: r.body.id as string, email };
}

const errorCode = (r: Reply) => r.body?.error?.code;

describe("operator login", () => {
  it("the first admin signs in and gets an access token and a locked-down refresh cookie", async () => {
    const r = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(["accessToken", "expiresIn", "user"]);
    expect(r.body.expiresIn).toBe(3600);
    expect(r.body.user).toMatchObject({ type: "cc", email: ADMIN_EMAIL, role: "admin", status: "active" });
    expect(r.body.user).not.toHaveProperty("passwordHash");

    const c = r.cookie as ParsedCookie;
    expect(c.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(c.attrs).toHaveProperty("httponly");
    expect(c.attrs.samesite).toBe("Strict");
    expect(c.attrs.path).toBe("/internal/auth");
    expect(c.attrs["max-age"]).toBe(String(30 * 86_400));
    // NODE_ENV=test is not development, so the cookie is Secure.
    expect(c.attrs).toHaveProperty("secure");

    const who = await me(r.body.accessToken);
    expect(who.status).toBe(200);
    expect(who.body).toEqual(r.body.user);
  });

  it("accepts the email in any case and with surrounding spaces", async () => {
    const r = await login("  ADMIN@Halo.Test ", ADMIN_PASSWORD);
    expect(r.status).toBe(200);
  });

  it("an unknown email and a wrong password get the same 401 INVALID_CREDENTIALS in about the same time", async () => {
    const { email } = await newOperator(await adminToken());
    const unknown: number[] = [];
    const wrong: number[] = [];
    for (let i = 0; i < 4; i++) {
      let t = performance.now();
      const a = await login(`nobody-${i}@halo.test`, GOOD);
      unknown.push(performance.now() - t);
      t = performance.now();
      const b = await login(email, `${GOOD}x`);
      wrong.push(performance.now() - t);
      expect([a.status, errorCode(a)]).toEqual([401, "INVALID_CREDENTIALS"]);
      expect([b.status, errorCode(b)]).toEqual([401, "INVALID_CREDENTIALS"]);
      expect(a.body.error.message).toBe(b.body.error.message);
    }
    // Both paths pay for one bcrypt comparison (~230 ms here); the unknown email is no fast path.
    // The fastest of each set is the least disturbed by other test files sharing the CPU.
    const ratio = Math.min(...unknown) / Math.min(...wrong);
    expect(Math.min(...unknown)).toBeGreaterThan(100);
    // Loose bounds: a fast path would be ~100× apart; under a loaded CI machine 1.7× was seen.
    expect(ratio).toBeGreaterThan(0.4);
    expect(ratio).toBeLessThan(2.5);
  });

  it("a disabled operator with the right password gets 403 ACCOUNT_INACTIVE", async () => {
    const { id, email } = await newOperator(await adminToken());
    await gw.pool.query("UPDATE control_center_users SET status = 'disabled' WHERE id = $1", [id]);
    const r = await login(email, GOOD);
    expect([r.status, errorCode(r)]).toEqual([403, "ACCOUNT_INACTIVE"]);
    const wrong = await login(email, OTHER_GOOD);
    expect([wrong.status, errorCode(wrong)]).toEqual([401, "INVALID_CREDENTIALS"]);
  });
});

describe("login lockout", () => {
  it("the fifth wrong password still answers 401, then even the right password gets 423 until the lockout ends", async () => {
    const { email } = await newOperator(await adminToken());
    for (let i = 1; i <= 5; i++) {
      const r = await login(email, `Wrong-Guess-${i}`);
      expect([i, r.status, errorCode(r)]).toEqual([i, 401, "INVALID_CREDENTIALS"]);
    }
    const locked = await login(email, GOOD);
    expect([locked.status, errorCode(locked)]).toEqual([423, "ACCOUNT_LOCKED"]);
    expect(locked.body.error.retryAfterSeconds).toBeGreaterThan(890);
    expect(locked.body.error.retryAfterSeconds).toBeLessThanOrEqual(900);
    expect(locked.headers.get("retry-after")).toBe(String(locked.body.error.retryAfterSeconds));

    clock.advance(600_000);
    const later = await login(email, GOOD);
    expect(later.status).toBe(423);
    expect(later.body.error.retryAfterSeconds).toBeLessThanOrEqual(300);

    clock.advance(301_000);
    // The lockout is over and counting starts afresh: one wrong password is an ordinary 401.
    const afresh = await login(email, "Wrong-Again-1");
    expect([afresh.status, errorCode(afresh)]).toEqual([401, "INVALID_CREDENTIALS"]);
    expect((await login(email, GOOD)).status).toBe(200);
  });

  it("a successful login resets the failure count", async () => {
    const { email } = await newOperator(await adminToken());
    for (let i = 0; i < 4; i++) expect((await login(email, `Wrong-Guess-${i}`)).status).toBe(401);
    expect((await login(email, GOOD)).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await login(email, `Wrong-Guess-${i}`)).status).toBe(401);
    expect((await login(email, GOOD)).status).toBe(200);
  });

  it("an email without an account is locked out the same way, so a lockout reveals nothing", async () => {
    const email = `ghost-${Date.now()}@halo.test`;
    for (let i = 0; i < 5; i++) expect((await login(email, `Wrong-Guess-${i}`)).status).toBe(401);
    const r = await login(` ${email.toUpperCase()}`, GOOD);
    expect([r.status, errorCode(r)]).toEqual([423, "ACCOUNT_LOCKED"]);
    expect(r.body.error.retryAfterSeconds).toBeGreaterThan(0);
  });
});

describe("refresh cookie and logout", () => {
  it("a refresh through the cookie rotates it; replaying the old cookie after the grace period revokes the session", async () => {
    const signIn = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
    const first = signIn.cookie?.value as string;

    const r = await call("POST", "/internal/auth/refresh", { cookie: first });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(["accessToken", "expiresIn", "user"]);
    expect(r.body.user).toMatchObject({ type: "cc", email: ADMIN_EMAIL });
    const second = r.cookie as ParsedCookie;
    expect(second.value).not.toBe(first);
    expect(second.attrs.path).toBe("/internal/auth");
    expect((await me(r.body.accessToken)).status).toBe(200);

    clock.advance(11_000);
    const replay = await call("POST", "/internal/auth/refresh", { cookie: first });
    expect([replay.status, errorCode(replay)]).toEqual([401, "REFRESH_REUSED"]);
    const after = await me(r.body.accessToken);
    expect([after.status, errorCode(after)]).toEqual([401, "SESSION_REVOKED"]);
    const next = await call("POST", "/internal/auth/refresh", { cookie: second.value });
    expect([next.status, errorCode(next)]).toEqual([401, "SESSION_REVOKED"]);
  });

  it("a refresh without the cookie, or with a forged one, answers 401 REFRESH_INVALID", async () => {
    const none = await call("POST", "/internal/auth/refresh");
    expect([none.status, errorCode(none)]).toEqual([401, "REFRESH_INVALID"]);
    const forged = await call("POST", "/internal/auth/refresh", { cookie: "A".repeat(43) });
    expect([forged.status, errorCode(forged)]).toEqual([401, "REFRESH_INVALID"]);
    const junk = await call("POST", "/internal/auth/refresh", { cookie: "%%%;;==" });
    expect([junk.status, errorCode(junk)]).toEqual([401, "REFRESH_INVALID"]);
  });

  it("logout clears the cookie and revokes the session, by bearer or by cookie alone", async () => {
    const a = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
    const out = await call("POST", "/internal/auth/logout", { token: a.body.accessToken });
    expect(out.status).toBe(204);
    expect(out.cookie?.value).toBe("");
    expect(out.cookie?.attrs["max-age"]).toBe("0");
    expect(out.cookie?.attrs.path).toBe("/internal/auth");
    expect(errorCode(await me(a.body.accessToken))).toBe("SESSION_REVOKED");
    expect(errorCode(await call("POST", "/internal/auth/refresh", { cookie: a.cookie?.value }))).toBe(
      "SESSION_REVOKED",
    );

    const b = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
    const byCookie = await call("POST", "/internal/auth/logout", { cookie: b.cookie?.value });
    expect(byCookie.status).toBe(204);
    expect(errorCode(await me(b.body.accessToken))).toBe("SESSION_REVOKED");

    const bare = await call("POST", "/internal/auth/logout");
    expect(bare.status).toBe(204);
    expect(bare.cookie?.attrs["max-age"]).toBe("0");
  });
});

describe("who may use /internal", () => {
  it("customer and mitra tokens are refused on /internal routes with 403 FORBIDDEN", async () => {
    const customer = await anonymousCustomer(gw.publicUrl);
    const { rows } = await gw.pool.query<{ id: string }>(
      "INSERT INTO mitras (phone, display_name) VALUES ($1, 'Mitra') RETURNING id",
      [`+62812${Date.now().toString().slice(-7)}`],
    );
    const mitra = await withTransaction(gw.pool, (tx) =>
      gw.gateway.services.auth.signIn(tx, { id: (rows[0] as { id: string }).id, type: "mitra" }),
    );
    for (const token of [customer.accessToken, mitra.pair.accessToken]) {
      for (const [method, path, body] of [
        ["GET", "/internal/auth/me", undefined],
        ["POST", "/internal/control-center-users", { email: "x@halo.test", role: "operator" }],
        ["PUT", "/internal/control-center-users/me/password", { currentPassword: GOOD, newPassword: GOOD }],
        ["POST", "/internal/auth/logout", undefined],
      ] as const) {
        const r = await call(method, path, { token, body });
        expect([path, r.status, errorCode(r)]).toEqual([path, 403, "FORBIDDEN"]);
      }
    }
  });

  it("a request without a token gets 401 UNAUTHENTICATED", async () => {
    const r = await call("GET", "/internal/auth/me");
    expect([r.status, errorCode(r)]).toEqual([401, "UNAUTHENTICATED"]);
  });

  it("only an admin may create operators, and an email is taken whatever its case", async () => {
    const admin = await adminToken();
    const op = await newOperator(admin);
    const opToken = (await login(op.email, GOOD)).body.accessToken;
    const refused = await call("POST", "/internal/control-center-users", {
      token: opToken,
      body: { email: "new-one@halo.test", password: GOOD, role: "operator" },
    });
    expect([refused.status, errorCode(refused)]).toEqual([403, "FORBIDDEN"]);

    const created = await call("POST", "/internal/control-center-users", {
      token: admin,
      body: { email: "Second.Admin@Halo.Test", password: GOOD, role: "admin" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ type: "cc", email: "second.admin@halo.test", role: "admin" });
    expect(created.body.status).toBe("active");
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const dup = await call("POST", "/internal/control-center-users", {
      token: admin,
      body: { email: "SECOND.admin@halo.test", role: "operator" },
    });
    expect([dup.status, errorCode(dup)]).toEqual([409, "EMAIL_TAKEN"]);
  });
});

describe("password policy and password changes", () => {
  it("refuses passwords that are too short, lack a digit, are common, or pass 72 bytes", async () => {
    const admin = await adminToken();
    const bad = ["Short1a", "NoDigitsHere", "Password1", `Aa1${"x".repeat(70)}`, `Aa1${"é".repeat(35)}`];
    for (const password of bad) {
      const r = await call("POST", "/internal/control-center-users", {
        token: admin,
        body: { email: `weak-${bad.indexOf(password)}@halo.test`, password, role: "operator" },
      });
      expect([password, r.status, errorCode(r)]).toEqual([password, 400, "PASSWORD_POLICY"]);
      expect(r.body.error.issues[0].path).toBe("password");
    }
    const own = await call("PUT", "/internal/control-center-users/me/password", {
      token: admin,
      body: { currentPassword: ADMIN_PASSWORD, newPassword: "Password1" },
    });
    expect([own.status, errorCode(own)]).toEqual([400, "PASSWORD_POLICY"]);
  });

  it("changing one's own password ends every other session but keeps the current one", async () => {
    const op = await newOperator(await adminToken());
    const here = await login(op.email, GOOD);
    const elsewhere = await login(op.email, GOOD);

    const wrong = await call("PUT", "/internal/control-center-users/me/password", {
      token: here.body.accessToken,
      body: { currentPassword: OTHER_GOOD, newPassword: OTHER_GOOD },
    });
    expect([wrong.status, errorCode(wrong)]).toEqual([401, "INVALID_CREDENTIALS"]);
    expect((await me(elsewhere.body.accessToken)).status).toBe(200);

    const changed = await call("PUT", "/internal/control-center-users/me/password", {
      token: here.body.accessToken,
      body: { currentPassword: GOOD, newPassword: OTHER_GOOD },
    });
    expect(changed.status).toBe(204);
    expect((await me(here.body.accessToken)).status).toBe(200);
    expect(errorCode(await me(elsewhere.body.accessToken))).toBe("SESSION_REVOKED");
    expect(errorCode(await call("POST", "/internal/auth/refresh", { cookie: elsewhere.cookie?.value }))).toBe(
      "SESSION_REVOKED",
    );
    expect((await call("POST", "/internal/auth/refresh", { cookie: here.cookie?.value })).status).toBe(200);
    expect(errorCode(await login(op.email, GOOD))).toBe("INVALID_CREDENTIALS");
    expect((await login(op.email, OTHER_GOOD)).status).toBe(200);
  });

  it("an admin's forced reset ends every session of that operator", async () => {
    const admin = await adminToken();
    const op = await newOperator(admin);
    const session = await login(op.email, GOOD);

    const byOperator = await call("PUT", `/internal/control-center-users/${op.id}/password`, {
      token: session.body.accessToken,
      body: { newPassword: OTHER_GOOD },
    });
    expect([byOperator.status, errorCode(byOperator)]).toEqual([403, "FORBIDDEN"]);

    const reset = await call("PUT", `/internal/control-center-users/${op.id}/password`, {
      token: admin,
      body: { newPassword: OTHER_GOOD },
    });
    expect(reset.status).toBe(204);
    expect(errorCode(await me(session.body.accessToken))).toBe("SESSION_REVOKED");
    expect((await login(op.email, OTHER_GOOD)).status).toBe(200);

    for (const id of ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "%E0%A4%A"]) {
      const r = await call("PUT", `/internal/control-center-users/${id}/password`, {
        token: admin,
        body: { newPassword: OTHER_GOOD },
      });
      expect([id, r.status, errorCode(r)]).toEqual([id, 404, "NOT_FOUND"]);
    }
  });
});

describe("hostile input", () => {
  it("malformed, oversized and mistyped bodies get contract errors, never a 500", async () => {
    const admin = await adminToken();
    const cases: [string, string, { raw?: string; body?: unknown; token?: string }, number, string][] = [
      ["POST", "/internal/auth/login", { raw: "{not json" }, 400, "VALIDATION_FAILED"],
      ["POST", "/internal/auth/login", { body: { email: 5, password: [] } }, 400, "VALIDATION_FAILED"],
      ["POST", "/internal/auth/login", { body: { email: "a@b.c" } }, 400, "VALIDATION_FAILED"],
      ["POST", "/internal/auth/login", { body: ["a@b.c", "x"] }, 400, "VALIDATION_FAILED"],
      ["POST", "/internal/auth/login", { raw: "null" }, 400, "VALIDATION_FAILED"],
      [
        "POST",
        "/internal/auth/login",
        { body: { email: "a@b.c", password: "x".repeat(70_000) } },
        413,
        "PAYLOAD_TOO_LARGE",
      ],
      [
        "POST",
        "/internal/auth/login",
        { body: { email: "a@b.c", password: "x".repeat(5_000) } },
        400,
        "VALIDATION_FAILED",
      ],
      [
        "POST",
        "/internal/control-center-users",
        { token: admin, body: { email: "x@halo.test", role: "root" } },
        400,
        "VALIDATION_FAILED",
      ],
      [
        "POST",
        "/internal/control-center-users",
        { token: admin, body: { email: "not an email", role: "operator" } },
        400,
        "VALIDATION_FAILED",
      ],
      [
        "POST",
        "/internal/control-center-users",
        { token: admin, body: { email: "x@halo.test", role: "operator", password: null } },
        400,
        "VALIDATION_FAILED",
      ],
      [
        "PUT",
        "/internal/control-center-users/me/password",
        { token: admin, body: { newPassword: 12345678 } },
        400,
        "VALIDATION_FAILED",
      ],
      ["GET", "/internal/auth/login", {}, 405, "METHOD_NOT_ALLOWED"],
    ];
    for (const [method, path, opts, status, code] of cases) {
      const r = await call(method, path, opts);
      expect([path, r.status, errorCode(r)]).toEqual([path, status, code]);
    }
    // A password longer than bcrypt reads (72 bytes) never matches through truncation.
    const truncated = await login(ADMIN_EMAIL, `${ADMIN_PASSWORD}${"z".repeat(80)}`);
    expect([truncated.status, errorCode(truncated)]).toEqual([401, "INVALID_CREDENTIALS"]);
    expect((await login(ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
  });
});

describe("password hashing under load", () => {
  it("with one hashing slot, a flood of 40 logins gets some 503 BUSY with retryAfterSeconds and never a 500", async () => {
    const busyGw = await startTestGateway({
      databaseUrl: db.url,
      valkeyUrl: TEST_VALKEY_URL,
      prefix: testPrefix(),
      env: { CC_PASSWORD_HASH_CONCURRENCY: "1" },
    });
    try {
      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) => login(`flood-${i}@halo.test`, GOOD, busyGw.internalUrl)),
      );
      const statuses = replies.map((r) => r.status);
      const busy = replies.filter((r) => r.status === 503);
      expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
      expect(busy.length).toBeGreaterThan(0);
      for (const r of busy) {
        expect(errorCode(r)).toBe("BUSY");
        expect(r.body.error.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        expect(r.headers.get("retry-after")).toBe(String(r.body.error.retryAfterSeconds));
      }
      // At most one running and 32 waiting get an answer from bcrypt.
      expect(replies.filter((r) => r.status === 401).length).toBeLessThanOrEqual(33);
      expect(busy.length + replies.filter((r) => r.status === 401).length).toBe(40);
    } finally {
      await busyGw.close();
    }
  }, 60_000);
});

describe("first admin", () => {
  it("two gateways starting at once against an empty database create the first admin once", async () => {
    const fresh = await createTestDatabase();
    const start = () =>
      startTestGateway({
        databaseUrl: fresh.url,
        valkeyUrl: TEST_VALKEY_URL,
        prefix: testPrefix(),
        env: { ADMIN_EMAIL: "Boss@Halo.Test", ADMIN_PASSWORD },
      });
    const gateways = await Promise.all([start(), start()]);
    try {
      const { rows } = await gateways[0].pool.query(
        "SELECT email, role, status FROM control_center_users WHERE lower(email) = 'boss@halo.test'",
      );
      expect(rows).toEqual([{ email: "boss@halo.test", role: "admin", status: "active" }]);
      expect((await login("boss@halo.test", ADMIN_PASSWORD, gateways[1].internalUrl)).status).toBe(200);
    } finally {
      for (const g of gateways) await g.close();
      await fresh.drop();
    }
  });
});
