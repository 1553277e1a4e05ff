import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestGateway } from "./support/gateway.js";
import { everyoneOffline, onlineMitra, type Party, setTunables, socketCustomer } from "./support/pairing.js";
import { QUIET_SWEEPS, startOwnValkey, stopOwnValkey, useGateways } from "./support/setup.js";
import { WsClient, wsUrl } from "./support/ws-client.js";

// Offers live 30 s here: anything a test sees within a few seconds is the frame sent again, not a next batch.
const ctx = useGateways({
  count: 2,
  ownValkey: true,
  env: { ...QUIET_SWEEPS, HEARTBEAT_STALE_SECONDS: "60" },
});
const gw = (i = 0): TestGateway => ctx.gateways[i] as TestGateway;

const parties: Party[] = [];
const sockets: WsClient[] = [];
beforeEach(async () => {
  await everyoneOffline(gw());
  await setTunables(ctx.gateways, {
    pairing_blast_size: 5,
    pairing_offer_ttl_seconds: 30,
    pairing_max_wait_seconds: 120,
  });
});
afterEach(async () => {
  await Promise.all([
    ...parties.splice(0).map((p) => p.ws.close()),
    ...sockets.splice(0).map((s) => s.close()),
  ]);
});

/** A new socket for `p` on `g`, its hello read. */
async function reconnect(p: Party, g: TestGateway): Promise<WsClient> {
  const ws = await WsClient.connect(wsUrl(g.publicUrl, "/ws"), { token: p.token });
  sockets.push(ws);
  await ws.next("hello");
  return ws;
}

describe("pairing frames lost in flight are sent again", () => {
  it("a mitra that reconnects to another process gets its open offer again, the same frame, and can still take it", async () => {
    const m = await onlineMitra(gw(0));
    const c = await socketCustomer(gw(0));
    parties.push(m, c);
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    const first = await m.ws.next("pairing.offer");
    expect(first).toMatchObject({ requestId });
    await m.ws.close();
    const again = await reconnect(m, gw(1));
    expect(await again.next("pairing.offer", 2000)).toEqual(first);
    expect(await again.request({ type: "pairing.accept", requestId })).toMatchObject({ type: "ack" });
    expect(await c.ws.next("pairing.matched")).toMatchObject({ requestId, mitra: { id: m.id } });
  });

  it("an offer made while Valkey was down reaches the mitra on another process as soon as Valkey is back", async () => {
    const m = await onlineMitra(gw(1));
    const c = await socketCustomer(gw(0));
    parties.push(m, c);
    // Postgres holds heartbeats as of the last mirror: flush them before Valkey goes away.
    await gw(1).gateway.services.scheduler.runNow("heartbeat_mirror");
    let requestId: string;
    await stopOwnValkey(ctx);
    try {
      ({ requestId } = await c.ws.request({ type: "pairing.request" }));
      // Fan-out without Valkey reaches only the customer's process: the mitra hears nothing yet.
      await new Promise((r) => setTimeout(r, 500));
      expect(m.ws.frames.some((f) => f.type === "pairing.offer")).toBe(false);
    } finally {
      await startOwnValkey(ctx);
    }
    const offer = await m.ws.next("pairing.offer", 5000);
    expect(offer).toMatchObject({ requestId });
    expect(Date.parse(offer.expiresAt as string) - Date.now()).toBeGreaterThan(20_000);
    expect(await m.ws.request({ type: "pairing.accept", requestId })).toMatchObject({ type: "ack" });
  }, 30_000);

  it("a customer matched while Valkey was down, by a mitra on another process, hears pairing.matched once Valkey is back", async () => {
    const m = await onlineMitra(gw(1));
    const c = await socketCustomer(gw(0));
    parties.push(m, c);
    await gw(1).gateway.services.scheduler.runNow("heartbeat_mirror");
    let requestId: string;
    let sessionId: string;
    await stopOwnValkey(ctx);
    try {
      ({ requestId } = await c.ws.request({ type: "pairing.request" }));
      // The mitra takes it by id (its offer went nowhere); the match's frame stays on the mitra's process.
      ({ sessionId } = await m.ws.request({ type: "pairing.accept", requestId }));
      await new Promise((r) => setTimeout(r, 500));
      expect(c.ws.frames.some((f) => f.type === "pairing.matched")).toBe(false);
    } finally {
      await startOwnValkey(ctx);
    }
    expect(await c.ws.next("pairing.matched", 5000)).toMatchObject({
      requestId,
      sessionId,
      mitra: { id: m.id },
    });
  }, 30_000);

  it("a mitra holding no open offer gets none on a new socket: taken and declined offers stay gone", async () => {
    const m = await onlineMitra(gw(0));
    const c = await socketCustomer(gw(0));
    parties.push(m, c);
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    await m.ws.next("pairing.offer");
    expect(await m.ws.request({ type: "pairing.decline", requestId })).toMatchObject({ type: "ack" });
    const again = await reconnect(m, gw(1));
    // The greeting's offers come within a read of Postgres; a second is ample on this machine.
    await new Promise((r) => setTimeout(r, 1000));
    expect(again.frames.filter((f) => f.type === "pairing.offer")).toEqual([]);
  });

  it("mitras reconnecting together are greeted from one read, each with exactly its own open offers", async () => {
    const [a, b, c] = [await onlineMitra(gw(0)), await onlineMitra(gw(0)), await onlineMitra(gw(0))];
    const [c1, c2] = [await socketCustomer(gw(0)), await socketCustomer(gw(0))];
    parties.push(a, b, c, c1, c2);
    const { requestId: r1 } = await c1.ws.request({ type: "pairing.request" });
    const { requestId: r2 } = await c2.ws.request({ type: "pairing.request" });
    // Requests of earlier tests may still be searching (and an earlier Valkey restart sends offers again):
    // only these two requests' offers count here, and a frame sent twice is one offer (the SDK keeps one per id).
    const ours = (ws: WsClient) =>
      new Set(ws.frames.filter((f) => f.type === "pairing.offer").map((f) => f.requestId as string));
    const offersIn = async (ws: WsClient, expected: string[]) => {
      const until = Date.now() + 3000;
      while (Date.now() < until && !expected.every((r) => ours(ws).has(r)))
        await new Promise((r) => setTimeout(r, 20));
      // Anything else would have come within the same read.
      await new Promise((r) => setTimeout(r, 300));
      return [...ours(ws)].filter((r) => r === r1 || r === r2).sort();
    };
    for (const m of [a, b, c]) expect(await offersIn(m.ws, [r1, r2])).toEqual([r1, r2].sort());
    // a declines the first: its only open offer is now the second.
    expect(await a.ws.request({ type: "pairing.decline", requestId: r1 })).toMatchObject({ type: "ack" });

    const pairing = gw(1).gateway.services.pairing;
    const read = pairing.openOffers.bind(pairing);
    const reads: string[][] = [];
    pairing.openOffers = (ids) => {
      reads.push([...ids]);
      return read(ids);
    };
    try {
      await Promise.all([a, b, c].map((m) => m.ws.close()));
      const [sa, sb, sc] = (await Promise.all([a, b, c].map((m) => reconnect(m, gw(1))))) as WsClient[];
      expect(await offersIn(sa as WsClient, [r2])).toEqual([r2]);
      expect(await offersIn(sb as WsClient, [r1, r2])).toEqual([r1, r2].sort());
      expect(await offersIn(sc as WsClient, [r1, r2])).toEqual([r1, r2].sort());
      // Activated in the same instant: one statement for the three, not one each.
      expect(reads.flat().sort()).toEqual([a.id, b.id, c.id].sort());
      expect(reads.length).toBeLessThan(3);
    } finally {
      pairing.openOffers = read;
    }
  });

  it("a customer whose match waits for payment hears pairing.matched again on a new socket", async () => {
    const m = await onlineMitra(gw(0));
    const c = await socketCustomer(gw(0));
    parties.push(m, c);
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    await m.ws.next("pairing.offer");
    const { sessionId } = await m.ws.request({ type: "pairing.accept", requestId });
    const first = await c.ws.next("pairing.matched");
    await c.ws.close();
    const again = await reconnect(c, gw(1));
    expect(await again.next("pairing.matched", 2000)).toEqual(first);
    expect(first).toMatchObject({ requestId, sessionId, mitra: { id: m.id } });
  });
});
