import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TestGateway } from "./support/gateway.js";
import { everyoneOffline, onlineMitra, type Party, setTunables, socketCustomer } from "./support/pairing.js";
import { call } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";
import type { Frame } from "./support/ws-client.js";

const ctx = useGateways({ count: 2, env: { ...QUIET_SWEEPS, HEARTBEAT_STALE_SECONDS: "60" } });
const gw = (i = 0): TestGateway => ctx.gateways[i] as TestGateway;

const parties: Party[] = [];
beforeEach(async () => {
  await everyoneOffline(gw());
  await setTunables(ctx.gateways, { pairing_blast_size: 1, pairing_offer_ttl_seconds: 30 });
});
afterEach(async () => {
  await Promise.all(parties.splice(0).map((p) => p.ws.close()));
});

/** A customer (gateway 1) matched with mitra `a` (gateway 0), session waiting for payment; `b` is online but not offered yet. */
async function matchedWithA(): Promise<{ a: Party; b: Party; c: Party; sessionId: string }> {
  const a = await onlineMitra(gw(0));
  const c = await socketCustomer(gw(1));
  parties.push(a, c);
  const { requestId } = await c.ws.request({ type: "pairing.request" });
  await a.ws.next("pairing.offer");
  const { sessionId } = await a.ws.request({ type: "pairing.accept", requestId });
  await c.ws.next("pairing.matched");
  // b comes online only now, so the first request could only go to a.
  const b = await onlineMitra(gw(1));
  parties.push(b);
  return { a, b, c, sessionId: sessionId as string };
}

/**
 * The customer's `pairing.matched` of `requestId`. The first match may come
 * twice (a socket greeted while its match waited for payment gets it again:
 * docs/sessions.md, "Frames sent again"); a copy of it is not the new match.
 */
async function matchedOf(p: Party, requestId: unknown): Promise<Frame> {
  for (;;) {
    const m = await p.ws.next("pairing.matched");
    if (m.requestId === requestId) return m;
  }
}

const causes: [string, (g: TestGateway, mitraId: string) => Promise<void>][] = [
  ["goes offline", async (g, id) => void (await g.gateway.services.avail.status.goOffline(id))],
  [
    "goes stale (auto-offline)",
    async (g, id) => {
      const old = new Date(Date.now() - 120_000).toISOString();
      await g.valkey?.set(g.gateway.services.keys.mitraHeartbeat(id), old);
      await g.gateway.services.scheduler.runNow("auto_offline");
    },
  ],
  ["is deactivated", async (g, id) => g.gateway.services.avail.status.setActive(id, false)],
];

describe("reroute: the mitra leaves while the customer has not paid", () => {
  for (const [cause, leave] of causes) {
    it(`when the mitra ${cause}, the session ends REROUTED and the customer is paired again at once, paying once`, async () => {
      const { a, b, c, sessionId } = await matchedWithA();
      await leave(gw(0), a.id);
      const updated = await c.ws.next("session.updated");
      expect(updated.session).toMatchObject({ id: sessionId, status: "ended", endReason: "REROUTED" });
      // Paired again without asking: b gets the offer of a new request.
      const offer = await b.ws.next("pairing.offer");
      const accepted = await b.ws.request({ type: "pairing.accept", requestId: offer.requestId });
      expect(accepted.type).toBe("ack");
      const matched = await matchedOf(c, offer.requestId);
      expect(matched).toMatchObject({ requestId: offer.requestId, mitra: { id: b.id } });
      expect(matched.sessionId).not.toBe(sessionId);
      // The rerouted session cannot be paid; the new one is paid once.
      const base = `${gw(1).publicUrl}/api/client/sessions`;
      const old = await call(`${base}/${sessionId}/payment`, { token: c.token, body: {} });
      expect(old.status).toBe(409);
      expect(old.body.error.code).toBe("SESSION_STATE");
      const paid = await call(`${base}/${matched.sessionId}/payment`, { token: c.token, body: {} });
      expect(paid.status).toBe(200);
      expect(paid.body.session.status).toBe("active");
      const again = await call(`${base}/${matched.sessionId}/payment`, { token: c.token, body: {} });
      expect(again.body.session.paidAt).toBe(paid.body.session.paidAt);
    }, 20_000);
  }

  it("a paid (active) session is not rerouted when its mitra goes offline", async () => {
    const { a, c, sessionId } = await matchedWithA();
    const paid = await call(`${gw(1).publicUrl}/api/client/sessions/${sessionId}/payment`, {
      token: c.token,
      body: {},
    });
    expect(paid.body.session.status).toBe("active");
    await c.ws.next("session.updated");
    await gw(0).gateway.services.avail.status.goOffline(a.id);
    await new Promise((r) => setTimeout(r, 300));
    const s = await call(`${gw(1).publicUrl}/api/client/sessions/${sessionId}`, { token: c.token });
    expect(s.body.session.status).toBe("active");
    expect(c.ws.pending.some((f) => f.type === "pairing.offer" || f.type === "session.updated")).toBe(false);
  });
});
