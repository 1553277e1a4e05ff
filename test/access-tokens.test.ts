import { generateKeyPairSync, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAccessTokens } from "../src/auth/access-token.js";
import { anonymousCustomer, authHeader, type Pair, post } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_URL } from "./support/env.js";
import { startTestGateway, TEST_JWT_SECRET, type TestGateway } from "./support/gateway.js";

let db: TestDatabase;
let gw: TestGateway;
let customer: Pair;

beforeAll(async () => {
  db = await createTestDatabase();
  gw = await startTestGateway({ databaseUrl: db.url, valkeyUrl: TEST_VALKEY_URL });
  customer = await anonymousCustomer(gw.publicUrl);
});
afterAll(async () => {
  await gw?.close();
  await db?.drop();
});

const now = () => Math.floor(Date.now() / 1000);
/** The customer's real claims, for forging variations of them. */
const claims = () => jwt.decode(customer.accessToken) as Record<string, unknown>;
const logout = (token: string) =>
  post(gw.publicUrl, "/api/shared/auth/logout-all", undefined, authHeader(token));

describe("access tokens", () => {
  it("carry sub, typ, sid, iat and exp, signed HS256 with the configured secret", () => {
    const header = JSON.parse(
      Buffer.from(customer.accessToken.split(".")[0] as string, "base64url").toString(),
    );
    expect(header.alg).toBe("HS256");
    const c = jwt.verify(customer.accessToken, TEST_JWT_SECRET, { algorithms: ["HS256"] }) as Record<
      string,
      unknown
    >;
    expect(c).toMatchObject({ sub: customer.user.id, typ: "customer", sid: expect.any(String) });
    expect((c.exp as number) - (c.iat as number)).toBe(customer.expiresIn);
    expect(customer.user.type).toBe("customer");
  });

  it('refuses an unsigned token ("alg": "none")', async () => {
    const unsigned = jwt.sign(claims(), "", { algorithm: "none" });
    const r = await logout(unsigned);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe("UNAUTHENTICATED");
  });

  it("refuses RS256 tokens, and HS256 tokens keyed with a public key (algorithm confusion)", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const rs = jwt.sign(claims(), privateKey, { algorithm: "RS256" });
    expect((await logout(rs)).status).toBe(401);
    const pem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const confused = jwt.sign(claims(), pem, { algorithm: "HS256" });
    expect((await logout(confused)).body.error.code).toBe("UNAUTHENTICATED");
  });

  it("refuses a token signed with another secret", async () => {
    const forged = jwt.sign(claims(), "another-secret-another-secret-another");
    expect((await logout(forged)).body.error.code).toBe("UNAUTHENTICATED");
  });

  it("refuses a tampered payload", async () => {
    const [h, , s] = customer.accessToken.split(".");
    const payload = Buffer.from(JSON.stringify({ ...claims(), sub: randomUUID() })).toString("base64url");
    expect((await logout(`${h}.${payload}.${s}`)).body.error.code).toBe("UNAUTHENTICATED");
  });

  it("answers TOKEN_EXPIRED for an expired token, so the client knows to refresh", async () => {
    const expired = jwt.sign({ ...claims(), iat: now() - 7200, exp: now() - 10 }, TEST_JWT_SECRET);
    const r = await logout(expired);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe("TOKEN_EXPIRED");
  });

  it("refuses a token issued in the future", async () => {
    const future = jwt.sign({ ...claims(), iat: now() + 3600, exp: now() + 7200 }, TEST_JWT_SECRET);
    expect((await logout(future)).body.error.code).toBe("UNAUTHENTICATED");
  });

  it("refuses tokens with missing or malformed claims", async () => {
    for (const bad of [
      { typ: "customer" },
      { ...claims(), typ: "admin" },
      { ...claims(), sid: "not-a-uuid" },
    ]) {
      const t = jwt.sign(bad, TEST_JWT_SECRET);
      expect((await logout(t)).body.error.code).toBe("UNAUTHENTICATED");
    }
  });

  it("refuses garbage in the Authorization header with 401, never 500", async () => {
    for (const h of [
      "Bearer",
      "Bearer a.b.c",
      "Basic Zm9vOmJhcg==",
      `Bearer ${"x".repeat(8000)}`,
      "Bearer\ttoken\tx",
    ]) {
      const r = await post(gw.publicUrl, "/api/shared/auth/logout", undefined, { authorization: h });
      expect(r.status).toBe(401);
    }
    expect((await post(gw.publicUrl, "/api/shared/auth/logout")).body.error.code).toBe("UNAUTHENTICATED");
  });

  it("accepts a token only on its own type's routes: a control-center token gets 403 on /api", async () => {
    const signer = createAccessTokens(TEST_JWT_SECRET, 3600);
    const { token } = signer.sign({ userId: randomUUID(), userType: "cc", sid: randomUUID() }, new Date());
    const r = await logout(token);
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe("FORBIDDEN");
  });
});
