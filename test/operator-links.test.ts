import { beforeAll, describe, expect, it } from "vitest";
import { TestClock, type TestGateway, waitFor } from "./support/gateway.js";
import { useGateways } from "./support/setup.js";

const ADMIN_EMAIL = "admin@halo.test";
const ADMIN_PASSWORD = "Adm1n-Secret-42";
const GOOD = "Blue-Harbor-77";
const OTHER_GOOD = "Quiet-Maple-31";

let gw: TestGateway;
const clock = new TestClock();
const ctx = useGateways({ now: clock.now, env: { ENABLE_TEST_ROUTES: "true", ADMIN_EMAIL, ADMIN_PASSWORD } });
beforeAll(() => {
  gw = ctx.gateways[0] as TestGateway;
});

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary JSON
  body: any;
  headers: Headers;
  /** The raw cc_refresh Set-Cookie line, if the reply set one. */
  setCookie?: string;
}

async function call(
  method: string,
  path: string,
  opts: { body?: unknown; raw?: string; token?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  const res = await fetch(`${gw.internalUrl}${path}`, {
    method,
    headers,
    ...(payload === undefined ? {} : { body: payload }),
  });
  const text = await res.text();
  const setCookie = res.headers.getSetCookie().find((l) => l.startsWith("cc_refresh="));
  return {
    status: res.status,
    body: text ? JSON.parse(text) : undefined,
    headers: res.headers,
    ...(setCookie ? { setCookie } : {}),
  };
}

const errorCode = (r: Reply) => r.body?.error?.code;
const login = (email: string, password: string) =>
  call("POST", "/internal/auth/login", { body: { email, password } });
const me = (token: string) => call("GET", "/internal/auth/me", { token });
const accept = (token: string, password: string) =>
  call("POST", "/internal/auth/accept-invite", { body: { token, password } });
const confirm = (token: string, newPassword: string) =>
  call("POST", "/internal/auth/password-reset/confirm", { body: { token, newPassword } });
const requestReset = (email: string) =>
  call("POST", "/internal/auth/password-reset/request", { body: { email } });

async function adminToken(): Promise<string> {
  const r = await login(ADMIN_EMAIL, ADMIN_PASSWORD);
  expect(r.status).toBe(200);
  return r.body.accessToken;
}

let serial = 0;
const freshEmail = () => `person${++serial}-${Date.now()}@halo.test`;

/** The last link mailed to `to`, or null (the test route answers 404). */
async function lastLink(to: string): Promise<string | null> {
  const r = await call("GET", `/internal/_test/mail?to=${encodeURIComponent(to)}`);
  if (r.status === 404) return null;
  expect(r.status).toBe(200);
  return r.body.link;
}

/** Waits for a mail to `to` whose link differs from `previous` (mail leaves after the response). */
async function nextLink(to: string, previous: string | null = null): Promise<string> {
  let link: string | null = null;
  await waitFor(async () => {
    link = await lastLink(to);
    return link !== null && link !== previous;
  }, 3000);
  return link as unknown as string;
}

const tokenOf = (link: string): string => new URL(link).searchParams.get("token") as string;

async function invite(
  admin: string,
  email = freshEmail(),
): Promise<{ id: string; email: string; token: string }> {
  const r = await call("POST", "/internal/control-center-users", {
    token: admin,
    body: { email, role: "operator" },
  });
  expect(r.status).toBe(201);
  const link = await nextLink(email);
  return { id: r.body.id, email, token: tokenOf(link) };
}

async function activeOperator(admin: string): Promise<{ id: string; email: string }> {
  const email = freshEmail();
  const r = await call("POST", "/internal/control-center-users", {
    token: admin,
    body: { email, role: "operator", password: GOOD },
  });
  expect(r.status).toBe(201);
  return { id: r.body.id, email };
}

describe("invitations", () => {
  it("an invited operator accepts the invitation, is signed in at once, and can log in with that password afterwards", async () => {
    const admin = await adminToken();
    const email = freshEmail();
    const created = await call("POST", "/internal/control-center-users", {
      token: admin,
      body: { email, role: "operator" },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email, role: "operator", status: "invited" });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const link = await nextLink(email);
    // CC_PUBLIC_URL is unset: the link points at the internal listener actually bound (port 0 in tests).
    expect(link.startsWith(`${gw.internalUrl}/internal/accept-invite?token=`)).toBe(true);
    const token = tokenOf(link);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Only the hash is stored.
    const stored = await gw.pool.query(
      "SELECT count(*)::int AS n FROM cc_link_tokens WHERE token_hash::text LIKE $1",
      [`%${token}%`],
    );
    expect(stored.rows[0].n).toBe(0);

    // Not before the invitation is accepted, whatever the password.
    expect(errorCode(await login(email, GOOD))).toBe("INVALID_CREDENTIALS");

    const accepted = await accept(token, GOOD);
    expect(accepted.status).toBe(200);
    expect(accepted.body.sessionEstablished).toBe(true);
    expect(accepted.body.expiresIn).toBe(3600);
    expect(accepted.body.user).toMatchObject({ id: created.body.id, type: "cc", email, status: "active" });
    expect(accepted.body).not.toHaveProperty("refreshToken");
    expect(accepted.setCookie).toMatch(
      /^cc_refresh=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/internal\/auth/,
    );
    expect((await me(accepted.body.accessToken)).status).toBe(200);

    expect((await login(email, GOOD)).status).toBe(200);
    const again = await accept(token, OTHER_GOOD);
    expect([again.status, errorCode(again)]).toEqual([409, "LINK_USED"]);
  });

  it("a password that breaks the policy is refused and leaves the invitation usable", async () => {
    const inv = await invite(await adminToken());
    for (const weak of ["Password1", "short1A", "alllowercase1"]) {
      const r = await accept(inv.token, weak);
      expect([weak, r.status, errorCode(r)]).toEqual([weak, 400, "PASSWORD_POLICY"]);
    }
    expect((await accept(inv.token, GOOD)).status).toBe(200);
  });

  it("two concurrent accepts of one invitation: one is signed in, the other gets 409 LINK_USED", async () => {
    const inv = await invite(await adminToken());
    const replies = await Promise.all([accept(inv.token, GOOD), accept(inv.token, OTHER_GOOD)]);
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409]);
    expect(errorCode(replies.find((r) => r.status === 409) as Reply)).toBe("LINK_USED");
    const { rows } = await gw.pool.query(
      "SELECT count(*)::int AS n FROM auth_sessions WHERE user_type = 'cc' AND user_id = $1",
      [inv.id],
    );
    expect(rows[0].n).toBe(1);
  });

  it("an invitation is void once an admin sets the password, and answers 401 LINK_INVALID like an unknown token", async () => {
    const admin = await adminToken();
    const inv = await invite(admin);
    const dup = await call("POST", "/internal/control-center-users", {
      token: admin,
      body: { email: inv.email.toUpperCase(), role: "operator" },
    });
    expect([dup.status, errorCode(dup)]).toEqual([409, "EMAIL_TAKEN"]);
    const forced = await call("PUT", `/internal/control-center-users/${inv.id}/password`, {
      token: admin,
      body: { newPassword: OTHER_GOOD },
    });
    expect(forced.status).toBe(204);
    const voided = await accept(inv.token, GOOD);
    expect([voided.status, errorCode(voided)]).toEqual([401, "LINK_INVALID"]);

    for (const token of ["A".repeat(43), "short", `${inv.token}x`]) {
      const r = await accept(token, GOOD);
      expect([token, r.status, errorCode(r)]).toEqual([token, 401, "LINK_INVALID"]);
    }
  });

  it("an invitation left for more than cc_invite_ttl_hours answers 410 LINK_EXPIRED", async () => {
    const inv = await invite(await adminToken());
    clock.advance(72 * 3_600_000 + 1_000);
    const r = await accept(inv.token, GOOD);
    expect([r.status, errorCode(r)]).toEqual([410, "LINK_EXPIRED"]);
  });
});

describe("password reset", () => {
  it("a reset request for an unknown email answers 202 like a known one and mails nothing", async () => {
    const op = await activeOperator(await adminToken());
    const unknown = `nobody-${Date.now()}@halo.test`;
    const a = await requestReset(unknown);
    const b = await requestReset(op.email);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(a.body).toEqual(b.body);
    expect(await nextLink(op.email)).toContain("/reset-password?token=");
    expect(await lastLink(unknown)).toBeNull();
  });

  it("a reset link signs the operator in and ends every other session", async () => {
    const op = await activeOperator(await adminToken());
    const old = await login(op.email, GOOD);
    expect((await requestReset(op.email.toUpperCase())).status).toBe(202);
    const link = await nextLink(op.email);
    expect(link.startsWith(`${gw.internalUrl}/internal/reset-password?token=`)).toBe(true);

    const r = await confirm(tokenOf(link), OTHER_GOOD);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      sessionEstablished: true,
      expiresIn: 3600,
      user: { id: op.id, type: "cc" },
    });
    expect(r.setCookie).toContain("HttpOnly");
    expect((await me(r.body.accessToken)).status).toBe(200);
    expect(errorCode(await me(old.body.accessToken))).toBe("SESSION_REVOKED");
    expect(errorCode(await login(op.email, GOOD))).toBe("INVALID_CREDENTIALS");
    expect((await login(op.email, OTHER_GOOD)).status).toBe(200);

    const reused = await confirm(tokenOf(link), GOOD);
    expect([reused.status, errorCode(reused)]).toEqual([409, "LINK_USED"]);
    // A reset link is not an invitation.
    expect(errorCode(await accept(tokenOf(link), GOOD))).toBe("LINK_INVALID");
  });

  it("a newer reset link voids the older one", async () => {
    const op = await activeOperator(await adminToken());
    await requestReset(op.email);
    const first = await nextLink(op.email);
    await requestReset(op.email);
    const second = await nextLink(op.email, first);
    const old = await confirm(tokenOf(first), OTHER_GOOD);
    expect([old.status, errorCode(old)]).toEqual([401, "LINK_INVALID"]);
    expect((await confirm(tokenOf(second), OTHER_GOOD)).status).toBe(200);
  });

  it("the fourth reset link within an hour is not sent, and an hour later one is", async () => {
    const op = await activeOperator(await adminToken());
    let link: string | null = null;
    for (let i = 0; i < 3; i++) {
      expect((await requestReset(op.email)).status).toBe(202);
      link = await nextLink(op.email, link);
    }
    const fourth = await requestReset(op.email);
    expect(fourth.status).toBe(202);
    const count = async () =>
      (
        await gw.pool.query(
          "SELECT count(*)::int AS n FROM cc_link_tokens WHERE user_id = $1 AND kind = 'reset'",
          [op.id],
        )
      ).rows[0].n;
    expect(await count()).toBe(3);
    await new Promise((r) => setTimeout(r, 200));
    expect(await lastLink(op.email)).toBe(link);
    // The third link is still the live one.
    clock.advance(3_600_000 + 1_000);
    expect((await requestReset(op.email)).status).toBe(202);
    const fresh = await nextLink(op.email, link);
    expect(await count()).toBe(4);
    expect((await confirm(tokenOf(fresh), OTHER_GOOD)).status).toBe(200);
  });

  it("a reset link older than cc_reset_ttl_minutes answers 410 LINK_EXPIRED", async () => {
    const op = await activeOperator(await adminToken());
    await requestReset(op.email);
    const link = await nextLink(op.email);
    clock.advance(30 * 60_000 + 1_000);
    const r = await confirm(tokenOf(link), OTHER_GOOD);
    expect([r.status, errorCode(r)]).toEqual([410, "LINK_EXPIRED"]);
  });

  it("a database error before the commit leaves the reset link usable", async () => {
    const op = await activeOperator(await adminToken());
    await requestReset(op.email);
    const token = tokenOf(await nextLink(op.email));
    // A trigger makes the new auth session's insert fail, after the token was marked used in the same transaction.
    await gw.pool.query(`
      CREATE FUNCTION test_refuse_session() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$;
      CREATE TRIGGER test_refuse_session BEFORE INSERT ON auth_sessions
        FOR EACH ROW EXECUTE FUNCTION test_refuse_session();`);
    try {
      const failed = await confirm(token, OTHER_GOOD);
      expect([failed.status, errorCode(failed)]).toEqual([500, "INTERNAL"]);
    } finally {
      await gw.pool.query(
        "DROP TRIGGER test_refuse_session ON auth_sessions; DROP FUNCTION test_refuse_session();",
      );
    }
    // Nothing of the failed exchange stuck: the old password still works and the link is unused.
    expect((await login(op.email, GOOD)).status).toBe(200);
    expect((await confirm(token, OTHER_GOOD)).status).toBe(200);
  });
});

describe("hostile input on the link routes", () => {
  it("malformed and mistyped bodies get contract errors, never a 500", async () => {
    const cases: [string, { raw?: string; body?: unknown }, number, string][] = [
      ["/internal/auth/accept-invite", { raw: "{" }, 400, "VALIDATION_FAILED"],
      ["/internal/auth/accept-invite", { body: { token: 42, password: GOOD } }, 400, "VALIDATION_FAILED"],
      [
        "/internal/auth/accept-invite",
        { body: { token: "x".repeat(600), password: GOOD } },
        400,
        "VALIDATION_FAILED",
      ],
      ["/internal/auth/accept-invite", { body: { token: "../../etc", password: GOOD } }, 401, "LINK_INVALID"],
      [
        "/internal/auth/password-reset/confirm",
        { body: { token: "a", password: GOOD } },
        400,
        "VALIDATION_FAILED",
      ],
      ["/internal/auth/password-reset/confirm", { body: {} }, 400, "VALIDATION_FAILED"],
      ["/internal/auth/password-reset/request", { raw: "[]" }, 400, "VALIDATION_FAILED"],
      ["/internal/auth/password-reset/request", { body: { email: { $ne: null } } }, 400, "VALIDATION_FAILED"],
    ];
    for (const [path, opts, status, code] of cases) {
      const r = await call("POST", path, opts);
      expect([path, r.status, errorCode(r)]).toEqual([path, status, code]);
    }
    const noTo = await call("GET", "/internal/_test/mail");
    expect([noTo.status, errorCode(noTo)]).toEqual([400, "VALIDATION_FAILED"]);
    const nobody = await call("GET", "/internal/_test/mail?to=nobody%40halo.test");
    expect([nobody.status, errorCode(nobody)]).toEqual([404, "NOT_FOUND"]);
  });
});
