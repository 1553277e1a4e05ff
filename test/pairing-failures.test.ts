import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { anonymousCustomer } from "./support/auth.js";
import {
  spawnGateway,
  startTestGateway,
  TEST_JWT_SECRET,
  type TestGateway,
  waitFor,
} from "./support/gateway.js";
import { everyoneOffline, onlineMitra, type Party, setTunables, socketCustomer } from "./support/pairing.js";
import { call } from "./support/people.js";
import { QUIET_SWEEPS, startOwnValkey, stopOwnValkey, useGateways } from "./support/setup.js";
import { WsClient, wsUrl } from "./support/ws-client.js";

const ctx = useGateways({
  count: 2,
  ownValkey: true,
  env: { ...QUIET_SWEEPS, HEARTBEAT_STALE_SECONDS: "60" },
});
const gw = (i = 0): TestGateway => ctx.gateways[i] as TestGateway;

const parties: Party[] = [];
beforeEach(async () => {
  await everyoneOffline(gw());
  await setTunables(ctx.gateways, {
    pairing_blast_size: 1,
    pairing_offer_ttl_seconds: 5,
    pairing_max_wait_seconds: 60,
  });
});
afterEach(async () => {
  await Promise.all(parties.splice(0).map((p) => p.ws.close()));
});

const stopValkey = (): Promise<void> => stopOwnValkey(ctx);
const startValkey = (): Promise<void> => startOwnValkey(ctx);

describe("pairing when parts fail", () => {
  it("a request whose process was killed with SIGKILL is carried on by another process to a match", async () => {
    // The child shares the database, the Valkey and the key prefix of the in-process gateways.
    const prefix = gw().gateway.services.config.VALKEY_KEY_PREFIX;
    const child = await spawnGateway({
      DATABASE_URL: ctx.db.url,
      VALKEY_URL: ctx.valkey?.url as string,
      VALKEY_KEY_PREFIX: prefix,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      ...QUIET_SWEEPS,
    });
    const a = await onlineMitra(gw(0));
    const b = await onlineMitra(gw(1));
    parties.push(a, b);
    const pair = await anonymousCustomer(child.publicUrl);
    const ws = await WsClient.connect(wsUrl(child.publicUrl, "/ws"), { token: pair.accessToken });
    await ws.next("hello");
    const { requestId } = await ws.request({ type: "pairing.request" });
    const offered = (p: Party) => p.ws.frames.some((f) => f.type === "pairing.offer");
    await waitFor(() => offered(a) || offered(b), 3000, 5);
    const [first, second] = offered(a) ? [a, b] : [b, a];
    await child.stop("SIGKILL");
    // No one answers the first offer; a surviving process lapses it and offers the next mitra.
    expect(await first.ws.next("pairing.taken", 12_000)).toMatchObject({ requestId });
    expect(await second.ws.next("pairing.offer", 3000)).toMatchObject({ requestId });
    expect((await second.ws.request({ type: "pairing.accept", requestId })).type).toBe("ack");
    const r = await call(`${gw(1).publicUrl}/api/client/pairing/${requestId}`, { token: pair.accessToken });
    expect(r.body).toMatchObject({ requestId, status: "matched" });
    expect(r.body.sessionId).toEqual(expect.any(String));
  }, 40_000);

  it("pairs from Postgres while Valkey is down: offers, one winner, PAIRING_TAKEN for the other", async () => {
    await setTunables(ctx.gateways, { pairing_blast_size: 5 });
    const a = await onlineMitra(gw(0));
    const b = await onlineMitra(gw(1));
    parties.push(a, b);
    // Postgres holds heartbeats as of the last mirror: flush them before Valkey goes away.
    await gw().gateway.services.scheduler.runNow("heartbeat_mirror");
    const c = await socketCustomer(gw(0));
    parties.push(c);
    await stopValkey();
    try {
      // Without Valkey, fan-out stays in each process: the customer and mitra a share gateway 0.
      const { requestId } = await c.ws.request({ type: "pairing.request" });
      expect(await a.ws.next("pairing.offer")).toMatchObject({ requestId });
      const [wa, wb] = await Promise.all([
        a.ws.request({ type: "pairing.accept", requestId }),
        b.ws.request({ type: "pairing.accept", requestId }),
      ]);
      expect([wa.type, wb.type].sort()).toEqual(["ack", "error"]);
      expect([wa, wb].find((x) => x.type === "error")).toMatchObject({ code: "PAIRING_TAKEN" });
      const sessions = await gw().pool.query("SELECT 1 FROM chat_sessions WHERE pairing_request_id = $1", [
        requestId,
      ]);
      expect(sessions.rowCount).toBe(1);
    } finally {
      await startValkey();
    }
  }, 30_000);

  it("an accept answers while its process's Postgres pool is down to one free client", async () => {
    // The tunables cache refilled inside the accept's transaction: it waited for a second client
    // while holding the first, so a busy pool answered DEPENDENCY_UNAVAILABLE with Postgres up.
    const narrow = await startTestGateway({
      databaseUrl: ctx.db.url,
      valkeyUrl: ctx.valkey?.url as string,
      prefix: gw().gateway.services.config.VALKEY_KEY_PREFIX,
      env: { ...QUIET_SWEEPS, HEARTBEAT_STALE_SECONDS: "60" },
      poolMax: 1,
    });
    try {
      const mitra = await onlineMitra(narrow);
      const customer = await socketCustomer(narrow);
      parties.push(mitra, customer);
      const { requestId } = await customer.ws.request({ type: "pairing.request" });
      await mitra.ws.next("pairing.offer", 3000);
      narrow.gateway.services.appConfig.invalidate();
      const answer = await mitra.ws.request({ type: "pairing.accept", requestId }, 5000);
      expect(answer).toMatchObject({ type: "ack", sessionId: expect.any(String) });
    } finally {
      await narrow.close();
    }
  });
});
