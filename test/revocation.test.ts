import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anonymousCustomer, authHeader, type Pair, post } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { startTestGateway, type TestGateway, waitFor } from "./support/gateway.js";
import { OwnValkey, testPrefix } from "./support/valkey.js";

let db: TestDatabase;
let valkey: OwnValkey;
let a: TestGateway;
let b: TestGateway;

beforeAll(async () => {
  db = await createTestDatabase();
  valkey = await OwnValkey.start();
  const prefix = testPrefix();
  a = await startTestGateway({ databaseUrl: db.url, valkeyUrl: valkey.url, prefix });
  b = await startTestGateway({ databaseUrl: db.url, valkeyUrl: valkey.url, prefix });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await valkey?.stop();
  await db?.drop();
});

const logout = (gw: TestGateway, p: Pair) =>
  post(gw.publicUrl, "/api/shared/auth/logout", undefined, authHeader(p.accessToken));
const check = async (gw: TestGateway, p: Pair) => (await logoutAllProbe(gw, p)).status;
/** An authenticated request that does not itself revoke anything when refused. */
const logoutAllProbe = (gw: TestGateway, p: Pair) =>
  post(gw.publicUrl, "/api/shared/auth/logout-all", undefined, authHeader(`${p.accessToken}`));

/** Resolves with the ms until `gw` announces `sid` as revoked (sockets close on this event). */
function revokedEventWithin(gw: TestGateway, sid: string): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => {
    const onRevoked = (sids: string[]) => {
      if (!sids.includes(sid)) return;
      gw.gateway.services.revocations.off("revoked", onRevoked);
      resolve(Date.now() - started);
    };
    gw.gateway.services.revocations.on("revoked", onRevoked);
  });
}

const sidOf = (p: Pair): string =>
  JSON.parse(Buffer.from(p.accessToken.split(".")[1] as string, "base64url").toString()).sid;

describe("instant revocation across processes", () => {
  it("a logout on one process refuses the access token on another at the very next request", async () => {
    const c = await anonymousCustomer(a.publicUrl);
    const event = revokedEventWithin(b, sidOf(c));
    expect((await logout(a, c)).status).toBe(204);
    const r = await logoutAllProbe(b, c);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe("SESSION_REVOKED");
    expect(await event).toBeLessThan(1000);
  });

  it("while Valkey is down, a revoked session is still refused everywhere and announced within 1 s", async () => {
    const c = await anonymousCustomer(a.publicUrl);
    const live = await anonymousCustomer(a.publicUrl);
    await valkey.stop();
    await waitFor(() => a.health?.state === "down" && b.health?.state === "down", 3000);

    const event = revokedEventWithin(b, sidOf(c));
    expect((await logout(a, c)).status).toBe(204);
    expect(await check(b, c)).toBe(401);
    expect(await check(a, c)).toBe(401);
    // Found by polling Postgres: sockets on B would close within 1 s.
    expect(await event).toBeLessThan(1000);
    // A live session is not refused because the cache is unreachable.
    const ok = await post(b.publicUrl, "/api/shared/auth/logout", undefined, authHeader(live.accessToken));
    expect(ok.status).toBe(204);
  });

  it("after Valkey returns empty, sessions revoked before and during the outage stay refused", async () => {
    const before = await anonymousCustomer(a.publicUrl);
    expect((await logout(a, before)).status).toBe(204);
    // valkey is still stopped from the previous test: revoke one more while it is down.
    const during = await anonymousCustomer(a.publicUrl);
    expect((await logout(a, during)).status).toBe(204);

    await valkey.startAgain(); // a fresh server: every key is gone
    await waitFor(() => a.health?.state === "up" && b.health?.state === "up", 5000);
    for (const gw of [a, b]) {
      expect(await check(gw, before)).toBe(401);
      expect(await check(gw, during)).toBe(401);
    }
    // The keys were rebuilt from Postgres.
    const rebuilt = await waitFor(async () => {
      const n = await a.valkey?.exists(a.gateway.services.keys.revokedSession(sidOf(during)));
      return n === 1;
    }, 3000);
    expect(rebuilt).toBeLessThan(3000);
  });
});
