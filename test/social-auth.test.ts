import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type CryptoKey, exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_URL } from "./support/env.js";
import { startTestGateway, TestClock, type TestGateway } from "./support/gateway.js";
import { json } from "./support/http.js";

const GOOGLE_ISS = "https://accounts.google.com";
const APPLE_ISS = "https://appleid.apple.com";
const GOOGLE_WEB = "web-client.apps.googleusercontent.com";
const GOOGLE_ANDROID = "android-client.apps.googleusercontent.com";
const APPLE_ID = "com.example.halo";

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}
async function newKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256");
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

/** A stand-in for Google's and Apple's JWKS endpoints; the test swaps the published keys. */
const published: Record<"google" | "apple", SigningKey[]> = { google: [], apple: [] };
const fetches = { google: 0, apple: 0 };
let jwksServer: Server;
let jwksBase = "";

let db: TestDatabase;
let gw: TestGateway;
const clock = new TestClock();
let googleKey: SigningKey;
let appleKey: SigningKey;

beforeAll(async () => {
  googleKey = await newKey("g1");
  appleKey = await newKey("a1");
  published.google = [googleKey];
  published.apple = [appleKey];
  jwksServer = createServer((req, res) => {
    const which = req.url === "/apple" ? "apple" : "google";
    fetches[which]++;
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ keys: published[which].map((k) => k.jwk) }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, "127.0.0.1", r));
  jwksBase = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;

  db = await createTestDatabase();
  gw = await startTestGateway({
    databaseUrl: db.url,
    valkeyUrl: TEST_VALKEY_URL,
    now: clock.now,
    env: {
      GOOGLE_JWKS_URL: `${jwksBase}/google`,
      APPLE_JWKS_URL: `${jwksBase}/apple`,
      GOOGLE_OAUTH_CLIENT_IDS: `${GOOGLE_WEB},${GOOGLE_ANDROID}`,
      APPLE_SERVICES_ID: APPLE_ID,
    },
  });
});
afterAll(async () => {
  await gw?.close();
  await db?.drop();
  jwksServer?.close();
});

let subSeq = 0;
const newSub = (): string => `${Date.now()}${subSeq++}`;

async function idToken(
  opts: {
    key?: SigningKey;
    iss?: string;
    aud?: string;
    sub?: string;
    expIn?: number;
    claims?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const key = opts.key ?? googleKey;
  const now = Math.floor(clock.now().getTime() / 1000);
  return new SignJWT(opts.claims ?? {})
    .setProtectedHeader({ alg: "RS256", kid: key.kid })
    .setIssuer(opts.iss ?? GOOGLE_ISS)
    .setAudience(opts.aud ?? GOOGLE_WEB)
    .setSubject(opts.sub ?? newSub())
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expIn ?? 3600))
    .sign(key.privateKey);
}
const appleToken = (opts: Parameters<typeof idToken>[0] = {}) =>
  idToken({ key: appleKey, iss: APPLE_ISS, aud: APPLE_ID, ...opts });

function signIn(provider: "google" | "apple", token: unknown, bearer?: string): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  return fetch(`${gw.publicUrl}/api/client/auth/${provider}`, {
    method: "POST",
    headers,
    body: JSON.stringify({ idToken: token }),
  });
}
async function expectRefused(res: Response, status: number, code: string): Promise<string> {
  const body = await json(res);
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
  return body.error.message;
}
const anonymous = async () =>
  json(await fetch(`${gw.publicUrl}/api/shared/auth/anonymous`, { method: "POST" }));

describe("Google sign-in", () => {
  it("creates a customer on first sign-in and finds the same one the next time", async () => {
    const sub = newSub();
    const claims = { email: "ayu@example.com", email_verified: true, name: "Ayu" };
    const first = await signIn("google", await idToken({ sub, claims }));
    expect(first.status).toBe(200);
    const pair = await json(first);
    expect(pair).toMatchObject({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      expiresIn: 3600,
    });
    expect(pair.user).toMatchObject({
      type: "customer",
      isAnonymous: false,
      email: "ayu@example.com",
      displayName: "Ayu",
      linkedProviders: ["google"],
    });
    const again = await json(await signIn("google", await idToken({ sub, aud: GOOGLE_ANDROID })));
    expect(again.user.id).toBe(pair.user.id);
  });

  it("accepts Google's issuer written without https://", async () => {
    expect((await signIn("google", await idToken({ iss: "accounts.google.com" }))).status).toBe(200);
  });

  it("keeps an email only when Google says it is verified", async () => {
    const res = await signIn(
      "google",
      await idToken({ claims: { email: "x@example.com", email_verified: false } }),
    );
    expect((await json(res)).user.email).toBeNull();
  });

  it("refuses a token made for another app, saying why", async () => {
    const message = await expectRefused(
      await signIn("google", await idToken({ aud: "someone-else" })),
      401,
      "UNAUTHENTICATED",
    );
    expect(message).toMatch(/audience/);
  });

  it("refuses a token from another issuer", async () => {
    const message = await expectRefused(
      await signIn("google", await idToken({ iss: "https://evil.example" })),
      401,
      "UNAUTHENTICATED",
    );
    expect(message).toMatch(/issuer/);
    // An Apple token is not a Google token.
    await expectRefused(await signIn("google", await appleToken()), 401, "UNAUTHENTICATED");
  });

  it("refuses an expired token, by the gateway's clock", async () => {
    const expired = await idToken({ expIn: -600 });
    expect(await expectRefused(await signIn("google", expired), 401, "UNAUTHENTICATED")).toMatch(/expired/);
    const live = await idToken({ expIn: 600 });
    clock.advance(3_600_000);
    expect(await expectRefused(await signIn("google", live), 401, "UNAUTHENTICATED")).toMatch(/expired/);
  });

  it("refuses a token signed by a key Google never published, or forged under a published kid", async () => {
    const stranger = await newKey("nobody-knows-me");
    expect(
      await expectRefused(await signIn("google", await idToken({ key: stranger })), 401, "UNAUTHENTICATED"),
    ).toMatch(/unknown key/);
    const forged = await idToken({ key: { ...stranger, kid: googleKey.kid } });
    expect(await expectRefused(await signIn("google", forged), 401, "UNAUTHENTICATED")).toMatch(/signature/);
  });

  it("refuses malformed tokens, other algorithms and bad bodies with contract errors", async () => {
    for (const token of ["abc", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.x"]) {
      expect(await expectRefused(await signIn("google", token), 401, "UNAUTHENTICATED")).toMatch(/malformed/);
    }
    for (const token of ["", "x".repeat(20_000)]) {
      await expectRefused(await signIn("google", token), 400, "VALIDATION_FAILED");
    }
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString("base64url")}.${Buffer.from(
      JSON.stringify({ iss: GOOGLE_ISS, aud: GOOGLE_WEB, sub: "x", exp: 9e9 }),
    ).toString("base64url")}.`;
    await expectRefused(await signIn("google", none), 401, "UNAUTHENTICATED");
    const hs = jwt.sign({ iss: GOOGLE_ISS, aud: GOOGLE_WEB, sub: "x" }, "secret", {
      keyid: googleKey.kid,
      expiresIn: 600,
    });
    await expectRefused(await signIn("google", hs), 401, "UNAUTHENTICATED");
    for (const token of [42, null, ["a"], { t: 1 }]) {
      await expectRefused(await signIn("google", token), 400, "VALIDATION_FAILED");
    }
    const extra = await fetch(`${gw.publicUrl}/api/client/auth/google`, {
      method: "POST",
      body: JSON.stringify({ idToken: await idToken(), admin: true }),
    });
    await expectRefused(extra, 400, "VALIDATION_FAILED");
  });

  it("follows a key rotation: a token signed with Google's new key verifies", async () => {
    expect((await signIn("google", await idToken())).status).toBe(200);
    const rotated = await newKey("g2");
    published.google = [rotated];
    const before = fetches.google;
    // The gateway refetches on an unknown kid at most every 2 s; wait that out once.
    await new Promise((r) => setTimeout(r, 2100));
    const res = await signIn("google", await idToken({ key: rotated }));
    expect(res.status).toBe(200);
    expect(fetches.google).toBe(before + 1);
    // The retired key no longer signs anything the gateway accepts.
    await expectRefused(await signIn("google", await idToken()), 401, "UNAUTHENTICATED");
    googleKey = rotated;
  });
});

describe("Apple sign-in", () => {
  it("signs in with an Apple id token (email_verified as a string) and finds the same customer again", async () => {
    const sub = `001234.${newSub()}`;
    const claims = { email: "relay@privaterelay.appleid.com", email_verified: "true" };
    const pair = await json(await signIn("apple", await appleToken({ sub, claims })));
    expect(pair.user).toMatchObject({ email: "relay@privaterelay.appleid.com", linkedProviders: ["apple"] });
    expect((await json(await signIn("apple", await appleToken({ sub })))).user.id).toBe(pair.user.id);
  });

  it("refuses an Apple token for another services id", async () => {
    await expectRefused(
      await signIn("apple", await appleToken({ aud: "com.other.app" })),
      401,
      "UNAUTHENTICATED",
    );
  });
});

describe("linking a provider to an existing customer", () => {
  it("links Google to an anonymous customer, who keeps their id", async () => {
    const anon = await anonymous();
    const sub = newSub();
    const res = await signIn("google", await idToken({ sub }), anon.accessToken);
    expect(res.status).toBe(200);
    const { user } = await json(res);
    expect(user).toMatchObject({ id: anon.user.id, isAnonymous: false, linkedProviders: ["google"] });
    // Then Apple too, on the same account; and Google alone finds it afterwards.
    const both = await json(await signIn("apple", await appleToken(), anon.accessToken));
    expect(both.user.linkedProviders).toEqual(["google", "apple"]);
    expect((await json(await signIn("google", await idToken({ sub })))).user.id).toBe(anon.user.id);
  });

  it("answers IDENTITY_CONFLICT for a Google account that belongs to another customer", async () => {
    const sub = newSub();
    const owner = await json(await signIn("google", await idToken({ sub })));
    const anon = await anonymous();
    const message = await expectRefused(
      await signIn("google", await idToken({ sub }), anon.accessToken),
      409,
      "IDENTITY_CONFLICT",
    );
    expect(message).toMatch(/another account/);
    // Signing in with the same token, without the Bearer, reaches the owner.
    expect((await json(await signIn("google", await idToken({ sub })))).user.id).toBe(owner.user.id);
  });

  it("answers IDENTITY_CONFLICT when the customer already has a different Google account", async () => {
    const anon = await anonymous();
    expect((await signIn("google", await idToken(), anon.accessToken)).status).toBe(200);
    await expectRefused(await signIn("google", await idToken(), anon.accessToken), 409, "IDENTITY_CONFLICT");
  });

  it("refuses a bad Bearer rather than signing in without it", async () => {
    await expectRefused(await signIn("google", await idToken(), "garbage"), 401, "UNAUTHENTICATED");
  });
});

describe("providers that are not set up or not reachable", () => {
  it("answers 401 when a provider has no client id, and 503 when its keys cannot be fetched", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const other = await startTestGateway({
      databaseUrl: db.url,
      valkeyUrl: null,
      now: clock.now,
      env: { GOOGLE_JWKS_URL: `http://127.0.0.1:${deadPort}/certs`, GOOGLE_OAUTH_CLIENT_IDS: GOOGLE_WEB },
    });
    try {
      const post = (p: string, token: string) =>
        fetch(`${other.publicUrl}/api/client/auth/${p}`, {
          method: "POST",
          body: JSON.stringify({ idToken: token }),
        });
      expect(await expectRefused(await post("apple", await appleToken()), 401, "UNAUTHENTICATED")).toMatch(
        /not configured/,
      );
      await expectRefused(await post("google", await idToken()), 503, "DEPENDENCY_UNAVAILABLE");
    } finally {
      await other.close();
    }
  });
});
