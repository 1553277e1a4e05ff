import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { revokeSessions } from "../src/auth/auth-sessions.js";
import { loadUser } from "../src/auth/users.js";
import { PUSH_TOKEN_MAX } from "../src/protocol/index.js";
import { anonymousCustomer, type Pair } from "./support/auth.js";
import type { TestGateway } from "./support/gateway.js";
import { seedMitra } from "./support/mitras.js";
import { ADMIN_ENV, call, operatorToken, type Reply } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";

/** Contract §11: the push token of each signed-in device, and its removal with the session. */

const ctx = useGateways({ env: { ...QUIET_SWEEPS, ...ADMIN_ENV } });
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

/** An FCM-like registration token, unique per call. */
const fcmToken = (): string =>
  `${randomBytes(16).toString("base64url")}:APA91b${randomBytes(105).toString("base64url")}`;

const register = (
  token: string | undefined,
  body: unknown,
  side: "client" | "mitra" = "client",
): Promise<Reply> =>
  call(`${gw().publicUrl}/api/${side}/devices`, { method: "POST", ...(token ? { token } : {}), body });

const unregister = (token: string, side: "client" | "mitra" = "client"): Promise<Reply> =>
  call(`${gw().publicUrl}/api/${side}/devices/current`, { method: "DELETE", token });

const sidOf = (accessToken: string): string =>
  JSON.parse(Buffer.from(accessToken.split(".")[1] as string, "base64url").toString()).sid;

interface Row {
  auth_session_id: string;
  user_type: string;
  user_id: string;
  platform: string;
  token: string;
}
async function rowsOf(where: { sid?: string; token?: string }): Promise<Row[]> {
  const { rows } = await gw().pool.query<Row>(
    `SELECT auth_session_id, user_type, user_id, platform, token FROM push_devices
     WHERE ($1::uuid IS NULL OR auth_session_id = $1) AND ($2::text IS NULL OR token = $2)`,
    [where.sid ?? null, where.token ?? null],
  );
  return rows;
}

/** A new sign-in (auth session) of a mitra, through the auth core. */
async function mitraSignIn(id: string): Promise<Pair> {
  const user = await loadUser(gw().pool, "mitra", id);
  if (!user) throw new Error("no such mitra");
  return (await gw().gateway.services.auth.signIn(gw().pool, user.view)).pair as Pair;
}

/** A seeded mitra, signed in. */
async function signedInMitra(): Promise<{ id: string; pair: Pair }> {
  const id = await seedMitra(gw().pool);
  return { id, pair: await mitraSignIn(id) };
}

describe("push devices", () => {
  it("registering stores the token for the caller's auth session", async () => {
    const me = await anonymousCustomer(gw().publicUrl);
    const token = fcmToken();
    const res = await register(me.accessToken, { platform: "android", token });
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expect(await rowsOf({ sid: sidOf(me.accessToken) })).toEqual([
      {
        auth_session_id: sidOf(me.accessToken),
        user_type: "customer",
        user_id: me.user.id,
        platform: "android",
        token,
      },
    ]);
    expect(await gw().gateway.services.devices.devicesOf("customer", me.user.id)).toEqual([
      { sid: sidOf(me.accessToken), platform: "android", token },
    ]);
  });

  it("a new token for the same session replaces the old one", async () => {
    const me = await anonymousCustomer(gw().publicUrl);
    const old = fcmToken();
    const fresh = fcmToken();
    expect((await register(me.accessToken, { platform: "android", token: old })).status).toBe(204);
    expect((await register(me.accessToken, { platform: "ios", token: fresh })).status).toBe(204);
    expect(await rowsOf({ token: old })).toEqual([]);
    const rows = await rowsOf({ sid: sidOf(me.accessToken) });
    expect(rows.map((r) => [r.platform, r.token])).toEqual([["ios", fresh]]);
    // Registering the same token again is a no-op, not a conflict.
    expect((await register(me.accessToken, { platform: "ios", token: fresh })).status).toBe(204);
    expect(await rowsOf({ sid: sidOf(me.accessToken) })).toHaveLength(1);
  });

  it("the same token registered by another session moves to it", async () => {
    const first = await anonymousCustomer(gw().publicUrl);
    const second = await anonymousCustomer(gw().publicUrl);
    const token = fcmToken();
    expect((await register(first.accessToken, { platform: "android", token })).status).toBe(204);
    expect((await register(second.accessToken, { platform: "android", token })).status).toBe(204);
    const rows = await rowsOf({ token });
    expect(rows.map((r) => [r.auth_session_id, r.user_id])).toEqual([
      [sidOf(second.accessToken), second.user.id],
    ]);
    expect(await gw().gateway.services.devices.devicesOf("customer", first.user.id)).toEqual([]);
  });

  it("two sessions registering one token at once leave it on exactly one of them", async () => {
    const a = await anonymousCustomer(gw().publicUrl);
    const b = await anonymousCustomer(gw().publicUrl);
    const token = fcmToken();
    const results = await Promise.all([
      register(a.accessToken, { platform: "android", token }),
      register(b.accessToken, { platform: "android", token }),
    ]);
    expect(results.map((r) => r.status)).toEqual([204, 204]);
    expect(await rowsOf({ token })).toHaveLength(1);
  });

  it("DELETE /devices/current forgets this session's token only", async () => {
    const me = await anonymousCustomer(gw().publicUrl);
    const other = await anonymousCustomer(gw().publicUrl);
    await register(me.accessToken, { platform: "android", token: fcmToken() });
    await register(other.accessToken, { platform: "ios", token: fcmToken() });
    expect((await unregister(me.accessToken)).status).toBe(204);
    expect(await rowsOf({ sid: sidOf(me.accessToken) })).toEqual([]);
    expect(await rowsOf({ sid: sidOf(other.accessToken) })).toHaveLength(1);
    // Nothing registered: still 204.
    expect((await unregister(me.accessToken)).status).toBe(204);
  });

  it("a mitra registers on /api/mitra/devices; a customer token there is FORBIDDEN, and the reverse", async () => {
    const mitra = await signedInMitra();
    const token = fcmToken();
    expect((await register(mitra.pair.accessToken, { platform: "ios", token }, "mitra")).status).toBe(204);
    expect(await gw().gateway.services.devices.devicesOf("mitra", mitra.id)).toEqual([
      { sid: sidOf(mitra.pair.accessToken), platform: "ios", token },
    ]);
    const customer = await anonymousCustomer(gw().publicUrl);
    for (const res of [
      await register(customer.accessToken, { platform: "ios", token: fcmToken() }, "mitra"),
      await unregister(customer.accessToken, "mitra"),
      await register(mitra.pair.accessToken, { platform: "ios", token: fcmToken() }, "client"),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe("FORBIDDEN");
    }
    expect(await rowsOf({ sid: sidOf(customer.accessToken) })).toEqual([]);
  });

  describe("every revocation removes the session's token in the revoking statement", () => {
    it("logout", async () => {
      const me = await anonymousCustomer(gw().publicUrl);
      const other = await anonymousCustomer(gw().publicUrl);
      await register(me.accessToken, { platform: "android", token: fcmToken() });
      await register(other.accessToken, { platform: "android", token: fcmToken() });
      expect(
        (await call(`${gw().publicUrl}/api/shared/auth/logout`, { method: "POST", token: me.accessToken }))
          .status,
      ).toBe(204);
      expect(await rowsOf({ sid: sidOf(me.accessToken) })).toEqual([]);
      expect(await rowsOf({ sid: sidOf(other.accessToken) })).toHaveLength(1);
    });

    it("logout-all removes the tokens of every session of the user", async () => {
      const me = await signedInMitra();
      const second = await mitraSignIn(me.id);
      await register(me.pair.accessToken, { platform: "android", token: fcmToken() }, "mitra");
      await register(second.accessToken, { platform: "ios", token: fcmToken() }, "mitra");
      expect(await gw().gateway.services.devices.devicesOf("mitra", me.id)).toHaveLength(2);
      const res = await call(`${gw().publicUrl}/api/shared/auth/logout-all`, {
        method: "POST",
        token: second.accessToken,
      });
      expect(res.status).toBe(204);
      const { rows } = await gw().pool.query(
        "SELECT 1 FROM push_devices WHERE user_type = 'mitra' AND user_id = $1",
        [me.id],
      );
      expect(rows).toEqual([]);
    });

    it("an operator's deactivation of the mitra", async () => {
      const me = await signedInMitra();
      await register(me.pair.accessToken, { platform: "android", token: fcmToken() }, "mitra");
      const admin = await operatorToken(gw());
      const res = await call(`${gw().internalUrl}/internal/mitras/${me.id}`, {
        method: "PATCH",
        token: admin,
        body: { isActive: false },
      });
      expect(res.status).toBe(200);
      expect(await rowsOf({ sid: sidOf(me.pair.accessToken) })).toEqual([]);
    });

    it("refresh-token reuse", async () => {
      const me = await anonymousCustomer(gw().publicUrl);
      await register(me.accessToken, { platform: "android", token: fcmToken() });
      const refresh = (refreshToken: string) =>
        call(`${gw().publicUrl}/api/shared/auth/refresh`, { body: { refreshToken } });
      const a = await refresh(me.refreshToken);
      expect(a.status).toBe(200);
      // The successor is used, so presenting the first token again is reuse.
      expect((await refresh(a.body.refreshToken)).status).toBe(200);
      const reused = await refresh(me.refreshToken);
      expect(reused.body.error.code).toBe("REFRESH_REUSED");
      expect(await rowsOf({ sid: sidOf(me.accessToken) })).toEqual([]);
    });

    it("a revocation rolled back keeps the token: the delete belongs to the revoking transaction", async () => {
      const me = await anonymousCustomer(gw().publicUrl);
      const sid = sidOf(me.accessToken);
      await register(me.accessToken, { platform: "android", token: fcmToken() });
      const client = await gw().pool.connect();
      try {
        await client.query("BEGIN");
        expect(await revokeSessions(client, [sid], "test", new Date())).toEqual([sid]);
        // Inside the transaction the token is gone with the session …
        expect(
          (await client.query("SELECT 1 FROM push_devices WHERE auth_session_id = $1", [sid])).rows,
        ).toEqual([]);
        await client.query("ROLLBACK");
      } finally {
        client.release();
      }
      // … and comes back with it when the revocation does not commit.
      expect(await rowsOf({ sid })).toHaveLength(1);
    });

    it("a revoked session cannot register a token", async () => {
      const me = await anonymousCustomer(gw().publicUrl);
      await call(`${gw().publicUrl}/api/shared/auth/logout`, { method: "POST", token: me.accessToken });
      const res = await register(me.accessToken, { platform: "android", token: fcmToken() });
      expect(res.status).toBe(401);
      expect(res.body.error.code).toBe("SESSION_REVOKED");
      expect(await rowsOf({ sid: sidOf(me.accessToken) })).toEqual([]);
    });
  });

  it("devicesOf leaves out a session whose refresh token has expired", async () => {
    const me = await anonymousCustomer(gw().publicUrl);
    await register(me.accessToken, { platform: "android", token: fcmToken() });
    await gw().pool.query(
      "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id = $1",
      [sidOf(me.accessToken)],
    );
    expect(await gw().gateway.services.devices.devicesOf("customer", me.user.id)).toEqual([]);
  });

  it("an unregistered token reported by the provider is deleted", async () => {
    const me = await anonymousCustomer(gw().publicUrl);
    const token = fcmToken();
    await register(me.accessToken, { platform: "android", token });
    await gw().gateway.services.devices.deleteToken(token);
    expect(await rowsOf({ token })).toEqual([]);
  });

  describe("bad input gets the contract's errors, never a 500", () => {
    const expectValidation = (res: Reply, path?: string) => {
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("VALIDATION_FAILED");
      if (path !== undefined)
        expect(res.body.error.issues.map((i: { path: string }) => i.path)).toContain(path);
    };

    it("malformed JSON, a missing, empty, oversized or non-string token, a bad platform", async () => {
      const me = await anonymousCustomer(gw().publicUrl);
      const url = `${gw().publicUrl}/api/client/devices`;
      expectValidation(await call(url, { method: "POST", token: me.accessToken, raw: '{"platform":"ios",' }));
      expectValidation(await call(url, { method: "POST", token: me.accessToken, raw: "[1,2]" }));
      expectValidation(await call(url, { method: "POST", token: me.accessToken, raw: "" }));
      expectValidation(await register(me.accessToken, { platform: "ios" }), "token");
      expectValidation(await register(me.accessToken, { platform: "ios", token: "" }), "token");
      expectValidation(await register(me.accessToken, { platform: "ios", token: 42 }), "token");
      expectValidation(await register(me.accessToken, { platform: "ios", token: "a b" }), "token");
      expectValidation(await register(me.accessToken, { platform: "ios", token: "a\u0000b" }), "token");
      expectValidation(
        await register(me.accessToken, { platform: "ios", token: "x".repeat(PUSH_TOKEN_MAX + 1) }),
        "token",
      );
      expectValidation(
        await register(me.accessToken, { platform: "windows", token: fcmToken() }),
        "platform",
      );
      expectValidation(await register(me.accessToken, { platform: null, token: fcmToken() }), "platform");
      expect(await rowsOf({ sid: sidOf(me.accessToken) })).toEqual([]);
      // The longest allowed token fits the unique index.
      const longest = randomBytes(PUSH_TOKEN_MAX).toString("base64url").slice(0, PUSH_TOKEN_MAX);
      expect((await register(me.accessToken, { platform: "ios", token: longest })).status).toBe(204);
      expect(await rowsOf({ token: longest })).toHaveLength(1);
    });

    it("a body over 64 KiB is PAYLOAD_TOO_LARGE", async () => {
      const me = await anonymousCustomer(gw().publicUrl);
      const res = await register(me.accessToken, { platform: "ios", token: "x".repeat(70 * 1024) });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe("PAYLOAD_TOO_LARGE");
    });

    it("no token or a bad token is UNAUTHENTICATED on both routes", async () => {
      for (const res of [
        await register(undefined, { platform: "ios", token: fcmToken() }),
        await register("not-a-jwt", { platform: "ios", token: fcmToken() }, "mitra"),
        await call(`${gw().publicUrl}/api/client/devices/current`, { method: "DELETE" }),
      ]) {
        expect(res.status).toBe(401);
        expect(res.body.error.code).toBe("UNAUTHENTICATED");
      }
    });

    it("another method on a device path is METHOD_NOT_ALLOWED", async () => {
      const me = await anonymousCustomer(gw().publicUrl);
      const res = await call(`${gw().publicUrl}/api/client/devices`, {
        method: "GET",
        token: me.accessToken,
      });
      expect(res.status).toBe(405);
      expect(res.body.error.code).toBe("METHOD_NOT_ALLOWED");
    });
  });
});
