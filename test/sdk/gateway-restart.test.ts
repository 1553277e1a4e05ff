import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChatMessage, HaloClient } from "../../packages/client/src/node.js";
import { freePort } from "../../src/free-port.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { TEST_VALKEY_ENV } from "../support/env.js";
import { type SpawnedGateway, spawnGateway, TEST_JWT_SECRET, waitFor } from "../support/gateway.js";
import { closeClients, nextEvent, sdkCustomer, sdkMitra } from "../support/sdk.js";
import { QUIET_SWEEPS } from "../support/setup.js";
import { testPrefix } from "../support/valkey.js";

let db: TestDatabase;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  // Every sign-in of the file comes from 127.0.0.1.
  await c.query("UPDATE app_config SET value = '100000'::jsonb WHERE key = 'otp_max_per_ip_per_hour'");
  await c.end();
  env = {
    DATABASE_URL: db.url,
    ...TEST_VALKEY_ENV,
    VALKEY_KEY_PREFIX: testPrefix(),
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ENABLE_TEST_ROUTES: "true",
    PUBLIC_PORT: String(await freePort()),
    INTERNAL_PORT: String(await freePort()),
    ...QUIET_SWEEPS,
  };
});
afterEach(() => closeClients());
afterAll(async () => {
  await db?.drop();
});

/** A customer and a mitra in an active session, paired through the real frames. */
async function pairedThrough(
  gw: SpawnedGateway,
): Promise<{ customer: HaloClient; mitra: HaloClient; sessionId: string }> {
  const m = await sdkMitra(gw.internalUrl, gw.publicUrl);
  await m.client.goOnline();
  await m.client.socket.connect();
  m.client.socket.on("pairing.offer", (offer) => void m.client.acceptOffer(offer.requestId).catch(() => {}));
  const customer = await sdkCustomer(gw.publicUrl);
  await customer.socket.connect();
  const result = await customer.requestPairing().result;
  if (result.status !== "matched") throw new Error(`pairing failed: ${result.reason}`);
  const session = await customer.sessions.pay(result.sessionId);
  expect(session.status).toBe("active");
  return { customer, mitra: m.client, sessionId: result.sessionId };
}

const texts = (ms: readonly ChatMessage[]) => ms.map((m) => m.text);

describe("the SDK across a gateway restart", () => {
  it("reconnects after SIGTERM (1001) and after SIGKILL, on the same ports, and delivers what was sent meanwhile exactly once", async () => {
    let gw = await spawnGateway(env);
    const { customer, mitra, sessionId } = await pairedThrough(gw);
    const c = customer.conversation(sessionId);
    const m = mitra.conversation(sessionId);
    const sids = [customer.socket.hello?.authSessionId, mitra.socket.hello?.authSessionId];
    await Promise.all([c.send("c0"), m.send("m0")]);

    // A graceful stop: the server closes with 1001, the SDK waits and comes back when it can.
    const closed = nextEvent(customer.socket, "disconnected", 10_000);
    await gw.stop("SIGTERM");
    expect((await closed).code).toBe(1001);
    const whileDown1 = [c.send("c1"), m.send("m1")];
    gw = await spawnGateway(env);
    await Promise.all(whileDown1);

    // A crash: no close frame at all (1006).
    const crashed = nextEvent(mitra.socket, "disconnected", 10_000);
    await gw.stop("SIGKILL");
    expect((await crashed).code).toBe(1006);
    const whileDown2 = [c.send("c2"), c.send("c3"), m.send("m2"), m.send("m3")];
    await new Promise((r) => setTimeout(r, 1500)); // a few failed attempts with backoff
    expect(c.pending().map((p) => p.text)).toEqual(["c2", "c3"]);
    gw = await spawnGateway(env);
    await Promise.all(whileDown2);

    await waitFor(() => c.messages.length === 8 && m.messages.length === 8, 15_000);
    // The same auth sessions throughout: reconnects, not new sign-ins.
    expect([customer.socket.hello?.authSessionId, mitra.socket.hello?.authSessionId]).toEqual(sids);
    expect(texts(c.messages)).toEqual(texts(m.messages));
    expect(new Set(c.messages.map((x) => x.id)).size).toBe(8);
    const own = (side: string) => texts(c.messages).filter((t) => t.startsWith(side));
    expect(own("c")).toEqual(["c0", "c1", "c2", "c3"]);
    expect(own("m")).toEqual(["m0", "m1", "m2", "m3"]);
    const pgc = new pg.Client({ connectionString: db.url });
    await pgc.connect();
    const stored = await pgc.query("SELECT text FROM chat_messages WHERE session_id = $1 ORDER BY seq", [
      sessionId,
    ]);
    await pgc.end();
    expect(stored.rows.map((r) => r.text)).toEqual(texts(c.messages));
    await gw.stop("SIGTERM");
  }, 60_000);
});
