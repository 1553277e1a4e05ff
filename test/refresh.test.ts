import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousCustomer, authHeader, post } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_URL } from "./support/env.js";
import { startTestGateway, TestClock, type TestGateway } from "./support/gateway.js";

let db: TestDatabase;
let gw: TestGateway;
const clock = new TestClock();

beforeAll(async () => {
  db = await createTestDatabase();
  gw = await startTestGateway({ databaseUrl: db.url, valkeyUrl: TEST_VALKEY_URL, now: clock.now });
});
afterAll(async () => {
  await gw?.close();
  await db?.drop();
});

const refresh = (refreshToken: unknown) => post(gw.publicUrl, "/api/shared/auth/refresh", { refreshToken });
const liveCheck = (accessToken: string) =>
  // logout is the cheapest authenticated route; a second, throwaway session keeps the first alive.
  post(gw.publicUrl, "/api/shared/auth/logout", undefined, authHeader(accessToken));

describe("refresh tokens", () => {
  it("are opaque, at least 256 bits, and rotate on every use", async () => {
    const first = await anonymousCustomer(gw.publicUrl);
    expect(first.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const r = await refresh(first.refreshToken);
    expect(r.status).toBe(200);
    expect(r.body.refreshToken).not.toBe(first.refreshToken);
    expect(r.body.expiresIn).toBe(3600);
    expect(r.body.user).toMatchObject({ id: first.user.id, type: "customer" });
    // Only a hash is stored: the token itself appears nowhere in the database.
    const { rows } = await gw.pool.query(
      "SELECT count(*)::int AS n FROM refresh_tokens WHERE token_hash::text LIKE $1",
      [`%${first.refreshToken}%`],
    );
    expect(rows[0].n).toBe(0);
  });

  it("a retry within the grace window returns the identical successor and a working access token of the same session", async () => {
    const first = await anonymousCustomer(gw.publicUrl);
    const a = await refresh(first.refreshToken);
    clock.advance(5_000);
    const b = await refresh(first.refreshToken);
    expect(b.status).toBe(200);
    expect(b.body.refreshToken).toBe(a.body.refreshToken);
    const sid = (t: string) => JSON.parse(Buffer.from(t.split(".")[1] as string, "base64url").toString()).sid;
    expect(sid(b.body.accessToken)).toBe(sid(first.accessToken));
    // The successor still works afterwards: the client was never logged out.
    expect((await refresh(a.body.refreshToken)).status).toBe(200);
  });

  it("10 concurrent refreshes with one token leave exactly one live chain and no logout", async () => {
    const first = await anonymousCustomer(gw.publicUrl);
    const results = await Promise.all(Array.from({ length: 10 }, () => refresh(first.refreshToken)));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    const successors = new Set(results.map((r) => r.body.refreshToken));
    expect(successors.size).toBe(1);
    const { rows } = await gw.pool.query(
      `SELECT count(*)::int AS live FROM refresh_tokens rt JOIN auth_sessions s ON s.id = rt.session_id
       JOIN customers c ON c.id = s.user_id WHERE c.id = $1 AND rt.rotated_at IS NULL AND s.revoked_at IS NULL`,
      [first.user.id],
    );
    expect(rows[0].live).toBe(1);
    expect((await refresh([...successors][0])).status).toBe(200);
  });

  it("reuse after the grace window revokes the session: its access token fails at once", async () => {
    const first = await anonymousCustomer(gw.publicUrl);
    const a = await refresh(first.refreshToken);
    clock.advance(11_000);
    const reused = await refresh(first.refreshToken);
    expect(reused.status).toBe(401);
    expect(reused.body.error.code).toBe("REFRESH_REUSED");
    const check = await liveCheck(a.body.accessToken);
    expect(check.status).toBe(401);
    expect(check.body.error.code).toBe("SESSION_REVOKED");
    // The successor died with the session.
    expect((await refresh(a.body.refreshToken)).body.error.code).toBe("SESSION_REVOKED");
  });

  it("presenting a rotated token after its successor was used is reuse, even within the grace window", async () => {
    const first = await anonymousCustomer(gw.publicUrl);
    const a = await refresh(first.refreshToken);
    expect((await refresh(a.body.refreshToken)).status).toBe(200);
    const r = await refresh(first.refreshToken);
    expect(r.body.error.code).toBe("REFRESH_REUSED");
  });

  it("answers REFRESH_INVALID for unknown or malformed tokens and VALIDATION_FAILED for a non-string", async () => {
    for (const t of ["x".repeat(43), "short", "", "../../etc/passwd", "a".repeat(500)]) {
      const r = await refresh(t);
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe("REFRESH_INVALID");
    }
    for (const t of [42, null, ["a"], { a: 1 }])
      expect((await refresh(t)).body.error.code).toBe("VALIDATION_FAILED");
    expect((await post(gw.publicUrl, "/api/shared/auth/refresh", "{bad json")).body.error.code).toBe(
      "VALIDATION_FAILED",
    );
    expect((await refresh("x".repeat(600))).body.error.code).toBe("VALIDATION_FAILED");
  });

  it("a refresh token lives REFRESH_TOKEN_TTL_DAYS from its issue, and use slides the session", async () => {
    const first = await anonymousCustomer(gw.publicUrl);
    clock.advance(29 * 86_400_000);
    const a = await refresh(first.refreshToken);
    expect(a.status).toBe(200);
    clock.advance(29 * 86_400_000);
    expect((await refresh(a.body.refreshToken)).status).toBe(200);
    const b = await anonymousCustomer(gw.publicUrl);
    clock.advance(30 * 86_400_000 + 1000);
    const expired = await refresh(b.refreshToken);
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe("REFRESH_EXPIRED");
  });

  it("a deactivated account gets ACCOUNT_INACTIVE before any other check", async () => {
    const first = await anonymousCustomer(gw.publicUrl);
    await refresh(first.refreshToken);
    clock.advance(60_000);
    await gw.pool.query("UPDATE customers SET is_active = false WHERE id = $1", [first.user.id]);
    // Even a reused token answers ACCOUNT_INACTIVE, and does not revoke anything.
    const r = await refresh(first.refreshToken);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("ACCOUNT_INACTIVE");
  });
});

describe("logout", () => {
  it("revokes this auth session only; logout-all revokes every session of the user", async () => {
    const a = await anonymousCustomer(gw.publicUrl);
    // A second device of the same customer.
    const second = await gw.gateway.services.auth.signIn(gw.pool, a.user);
    const secondAccess = second.pair.accessToken;

    expect(
      (await post(gw.publicUrl, "/api/shared/auth/logout", undefined, authHeader(a.accessToken))).status,
    ).toBe(204);
    expect((await liveCheck(a.accessToken)).body.error.code).toBe("SESSION_REVOKED");
    expect((await refresh(a.refreshToken)).body.error.code).toBe("SESSION_REVOKED");

    const third = await gw.gateway.services.auth.signIn(gw.pool, a.user);
    const r = await post(gw.publicUrl, "/api/shared/auth/logout-all", undefined, authHeader(secondAccess));
    expect(r.status).toBe(204);
    expect((await liveCheck(third.pair.accessToken)).body.error.code).toBe("SESSION_REVOKED");
  });
});

describe("hostile display names", () => {
  it("a NUL character in a display name is VALIDATION_FAILED, never a 500", async () => {
    const r = await post(gw.publicUrl, "/api/shared/auth/anonymous", { displayName: "a\u0000b" });
    expect([r.status, r.body.error.code, r.body.error.issues[0].path]).toEqual([
      400,
      "VALIDATION_FAILED",
      "displayName",
    ]);
  });
});
