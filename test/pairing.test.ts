import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type TestGateway, waitFor } from "./support/gateway.js";
import { openSession } from "./support/mitras.js";
import { everyoneOffline, onlineMitra, type Party, setTunables, socketCustomer } from "./support/pairing.js";
import { call } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";
import type { Frame } from "./support/ws-client.js";

const ctx = useGateways({ count: 3, env: { ...QUIET_SWEEPS, HEARTBEAT_STALE_SECONDS: "60" } });
const gw = (i = 0): TestGateway => ctx.gateways[i % 3] as TestGateway;

const parties: Party[] = [];
const track = <T extends Party>(p: T): T => {
  parties.push(p);
  return p;
};
const mitras = async (n: number, opts: { max?: number } = {}): Promise<Party[]> => {
  const out: Party[] = [];
  for (let i = 0; i < n; i++) out.push(track(await onlineMitra(gw(i), opts)));
  return out;
};
const customer = async (i = 0): Promise<Party> => track(await socketCustomer(gw(i)));

beforeEach(async () => {
  await everyoneOffline(gw());
  await setTunables(ctx.gateways, {
    pairing_blast_size: 5,
    pairing_offer_ttl_seconds: 30,
    pairing_max_wait_seconds: 120,
  });
});
afterEach(async () => {
  await Promise.all(parties.splice(0).map((p) => p.ws.close()));
});

/** Of two mitras, the one that got an offer first (its frame stays unread), and the other. */
async function whoIsOffered(a: Party, b: Party): Promise<[Party, Party]> {
  const offered = (p: Party) => p.ws.frames.some((f) => f.type === "pairing.offer");
  await waitFor(() => offered(a) || offered(b), 3000, 5);
  return offered(a) ? [a, b] : [b, a];
}

const openSessionsOf = async (mitraId: string): Promise<number> =>
  (
    await gw().pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM chat_sessions WHERE mitra_id = $1 AND status IN ('active', 'pending_payment')",
      [mitraId],
    )
  ).rows[0]?.n ?? 0;

describe("pairing a customer with a mitra", () => {
  it("50 mitras accepting one request at the same instant across 3 processes: exactly one wins, 20 times over", async () => {
    await setTunables(ctx.gateways, { pairing_blast_size: 50 });
    const fifty = await mitras(50);
    for (let round = 0; round < 20; round++) {
      const c = await customer(round);
      const ack = await c.ws.request({ type: "pairing.request" });
      expect(ack.type).toBe("ack");
      const requestId = ack.requestId as string;
      const offers = await Promise.all(fifty.map((m) => m.ws.next("pairing.offer")));
      expect(offers.every((o) => o.requestId === requestId)).toBe(true);
      // Every accept leaves before any answer comes back.
      const answers = await Promise.all(
        fifty.map((m) => m.ws.request({ type: "pairing.accept", requestId })),
      );
      const winners = answers.filter((a) => a.type === "ack");
      expect(winners).toHaveLength(1);
      expect(answers.filter((a) => a.type === "error" && a.code === "PAIRING_TAKEN")).toHaveLength(49);
      const winner = fifty[answers.findIndex((a) => a.type === "ack")] as Party;
      const sessionId = (winners[0] as Frame).sessionId as string;
      const matched = await c.ws.next("pairing.matched");
      expect(matched).toMatchObject({ requestId, sessionId, mitra: { id: winner.id } });
      expect(await winner.ws.next("pairing.matched")).toMatchObject({ requestId, sessionId });
      const losers = fifty.filter((m) => m !== winner);
      await Promise.all(losers.map((m) => m.ws.next("pairing.taken")));
      expect(await openSessionsOf(winner.id)).toBe(1);
      const sessions = await gw().pool.query("SELECT id FROM chat_sessions WHERE pairing_request_id = $1", [
        requestId,
      ]);
      expect(sessions.rowCount).toBe(1);
      // The customer leaves; the winner is free for the next round.
      await gw().pool.query(
        "UPDATE chat_sessions SET status = 'ended', end_reason = 'ENDED_BY_CUSTOMER' WHERE id = $1",
        [sessionId],
      );
      await gw().gateway.services.avail.recomputeCapacity([winner.id]);
      await c.ws.close();
    }
  }, 180_000);

  it("offers the least loaded mitra first, then the one longest since its last offer", async () => {
    await setTunables(ctx.gateways, { pairing_blast_size: 1 });
    const [busy, idle] = await mitras(2, { max: 2 });
    const b = busy as Party;
    await openSession(gw().pool, b.id, "active");
    await gw().gateway.services.avail.recomputeCapacity([b.id]);
    const c = await customer();
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    expect((await (idle as Party).ws.next("pairing.offer")).requestId).toBe(requestId);
    expect(b.ws.pending.some((f) => f.type === "pairing.offer")).toBe(false);
  });

  it("fails at once with NO_MITRA_AVAILABLE when nobody is available, and GET says so", async () => {
    const c = await customer();
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    expect(await c.ws.next("pairing.failed")).toMatchObject({ requestId, reason: "NO_MITRA_AVAILABLE" });
    const r = await call(`${gw(1).publicUrl}/api/client/pairing/${requestId}`, { token: c.token });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ requestId, status: "failed", sessionId: null, reason: "NO_MITRA_AVAILABLE" });
  });

  it("lapses an unanswered batch, offers the next, never re-offers, and fails with TIMEOUT at the maximum wait", async () => {
    await setTunables(ctx.gateways, {
      pairing_blast_size: 1,
      pairing_offer_ttl_seconds: 5,
      pairing_max_wait_seconds: 12,
    });
    const [a, b] = (await mitras(2)) as [Party, Party];
    const c = await customer();
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    const [offered, other] = await whoIsOffered(a, b);
    expect((await offered.ws.next("pairing.offer")).requestId).toBe(requestId);
    expect(await offered.ws.next("pairing.taken", 8000)).toMatchObject({ requestId });
    expect(await other.ws.next("pairing.offer", 3000)).toMatchObject({ requestId });
    expect(await other.ws.next("pairing.taken", 8000)).toMatchObject({ requestId });
    expect(await c.ws.next("pairing.failed", 8000)).toMatchObject({ requestId, reason: "TIMEOUT" });
    // Each mitra saw exactly one offer of it.
    for (const m of [a, b]) expect(m.ws.frames.filter((f) => f.type === "pairing.offer")).toHaveLength(1);
    const late = await offered.ws.request({ type: "pairing.accept", requestId });
    expect(late).toMatchObject({ type: "error", code: "PAIRING_TAKEN" });
  }, 30_000);

  it("a decline moves the request on to the next mitra at once, and the decliner is not asked again", async () => {
    await setTunables(ctx.gateways, { pairing_blast_size: 1 });
    const [a, b] = (await mitras(2)) as [Party, Party];
    const c = await customer(2);
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    const [first, second] = await whoIsOffered(a, b);
    await first.ws.next("pairing.offer");
    expect(await first.ws.request({ type: "pairing.decline", requestId })).toEqual({
      type: "ack",
      id: expect.anything(),
    });
    expect(await second.ws.next("pairing.offer", 2000)).toMatchObject({ requestId });
    const ack = await second.ws.request({ type: "pairing.accept", requestId });
    expect(ack.type).toBe("ack");
    expect(first.ws.frames.filter((f) => f.type === "pairing.offer")).toHaveLength(1);
  });

  it("a cancel tells the customer CANCELLED and every mitra holding an offer that it is taken", async () => {
    const [a, b] = (await mitras(2)) as [Party, Party];
    const c = await customer(1);
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    await Promise.all([a.ws.next("pairing.offer"), b.ws.next("pairing.offer")]);
    expect((await c.ws.request({ type: "pairing.cancel", requestId })).type).toBe("ack");
    expect(await c.ws.next("pairing.failed")).toMatchObject({ requestId, reason: "CANCELLED" });
    await Promise.all([a.ws.next("pairing.taken"), b.ws.next("pairing.taken")]);
    expect(await a.ws.request({ type: "pairing.accept", requestId })).toMatchObject({
      code: "PAIRING_TAKEN",
    });
    const r = await call(`${gw().publicUrl}/api/client/pairing/${requestId}`, { token: c.token });
    expect(r.body).toMatchObject({ status: "failed", reason: "CANCELLED" });
  });

  it("one pending request and one open session per customer; the same idempotencyKey returns the first request", async () => {
    const [a] = (await mitras(1)) as [Party];
    const c = await customer();
    const first = await c.ws.request({ type: "pairing.request", idempotencyKey: "k-1" });
    const again = await c.ws.request({ type: "pairing.request", idempotencyKey: "k-1" });
    expect(again.requestId).toBe(first.requestId);
    expect(await c.ws.request({ type: "pairing.request" })).toMatchObject({ code: "PAIRING_IN_PROGRESS" });
    await a.ws.next("pairing.offer");
    expect((await a.ws.request({ type: "pairing.accept", requestId: first.requestId })).type).toBe("ack");
    expect(await c.ws.request({ type: "pairing.request" })).toMatchObject({ code: "SESSION_OPEN" });
    const offersOfA = a.ws.frames.filter((f) => f.type === "pairing.offer");
    expect(offersOfA).toHaveLength(1);
  });

  it("a mitra that filled up meanwhile gets AT_CAPACITY and the request goes on for the others", async () => {
    const [a, b] = (await mitras(2)) as [Party, Party];
    const c = await customer();
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    await Promise.all([a.ws.next("pairing.offer"), b.ws.next("pairing.offer")]);
    await openSession(gw().pool, a.id, "active");
    expect(await a.ws.request({ type: "pairing.accept", requestId })).toMatchObject({ code: "AT_CAPACITY" });
    expect((await b.ws.request({ type: "pairing.accept", requestId })).type).toBe("ack");
    expect(await c.ws.next("pairing.matched")).toMatchObject({ mitra: { id: b.id } });
  });

  it("a batch whose every mitra turned out full offers the next batch at once, not after the offer TTL", async () => {
    await setTunables(ctx.gateways, { pairing_blast_size: 1 });
    const [a, b] = (await mitras(2)) as [Party, Party];
    const c = await customer();
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    const [first, second] = await whoIsOffered(a, b);
    await openSession(gw().pool, first.id, "active");
    expect(await first.ws.request({ type: "pairing.accept", requestId })).toMatchObject({
      code: "AT_CAPACITY",
    });
    // Offers live 30 s here: an offer within 3 s is the next batch, moved on by the refusal.
    expect(await second.ws.next("pairing.offer", 3000)).toMatchObject({ requestId });
    expect((await second.ws.request({ type: "pairing.accept", requestId })).type).toBe("ack");
  });

  it("a full mitra accepting at the same instant as a free one never makes the free one lose, 5 times over", async () => {
    await setTunables(ctx.gateways, { pairing_blast_size: 2 });
    const [full, free] = (await mitras(2)) as [Party, Party];
    await openSession(gw().pool, full.id, "active");
    for (let round = 0; round < 5; round++) {
      const c = await customer(round);
      const { requestId } = await c.ws.request({ type: "pairing.request" });
      await Promise.all([full.ws.next("pairing.offer"), free.ws.next("pairing.offer")]);
      const [f, g] = await Promise.all([
        full.ws.request({ type: "pairing.accept", requestId }),
        free.ws.request({ type: "pairing.accept", requestId }),
      ]);
      expect(f).toMatchObject({ code: "AT_CAPACITY" });
      expect(g.type).toBe("ack");
      await gw().pool.query("UPDATE chat_sessions SET status = 'ended' WHERE mitra_id = $1", [free.id]);
      await gw().gateway.services.avail.recomputeCapacity([free.id]);
    }
  });

  it("the available set follows presence: an offline mitra is never offered", async () => {
    const [a, b] = (await mitras(2)) as [Party, Party];
    await gw().gateway.services.avail.status.goOffline(a.id);
    const c = await customer();
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    expect(await b.ws.next("pairing.offer")).toMatchObject({ requestId });
    await new Promise((r) => setTimeout(r, 200));
    expect(a.ws.frames.some((f) => f.type === "pairing.offer")).toBe(false);
    const k = gw().gateway.services.keys;
    const members = await gw().valkey?.zrange(k.mitrasAvailable, 0, -1);
    expect(members).toContain(b.id);
    expect(members).not.toContain(a.id);
  });
});

describe("pairing input", () => {
  it("answers malformed and hostile pairing frames with the contract's errors, never a crash", async () => {
    const [m] = (await mitras(1)) as [Party];
    const c = await customer();
    const bad: [Party, Record<string, unknown>, string][] = [
      [c, { type: "pairing.request", extra: 1 }, "VALIDATION_FAILED"],
      [c, { type: "pairing.request", idempotencyKey: "x".repeat(201) }, "VALIDATION_FAILED"],
      [c, { type: "pairing.request", idempotencyKey: 42 }, "VALIDATION_FAILED"],
      [c, { type: "pairing.cancel", requestId: "'; DROP TABLE pairing_requests; --" }, "VALIDATION_FAILED"],
      [c, { type: "pairing.cancel" }, "VALIDATION_FAILED"],
      [c, { type: "pairing.cancel", requestId: "00000000-0000-4000-8000-000000000000" }, "NOT_FOUND"],
      [c, { type: "pairing.accept", requestId: "00000000-0000-4000-8000-000000000000" }, "FORBIDDEN"],
      [m, { type: "pairing.request" }, "FORBIDDEN"],
      [m, { type: "pairing.accept", requestId: ["a"] }, "VALIDATION_FAILED"],
      [m, { type: "pairing.accept", requestId: "00000000-0000-4000-8000-000000000000" }, "NOT_FOUND"],
      [m, { type: "pairing.decline", requestId: "00000000-0000-4000-8000-000000000000" }, "NOT_FOUND"],
    ];
    for (const [who, frame, code] of bad)
      expect(await who.ws.request(frame)).toMatchObject({ type: "error", code });
  });

  it("GET /api/client/pairing/:id is 404 for another customer's request or a non-UUID, 403 for a mitra", async () => {
    const c = await customer();
    const other = await customer();
    const { requestId } = await c.ws.request({ type: "pairing.request" });
    await c.ws.next("pairing.failed");
    const base = `${gw().publicUrl}/api/client/pairing`;
    expect((await call(`${base}/${requestId}`, { token: other.token })).status).toBe(404);
    expect((await call(`${base}/not-a-uuid`, { token: c.token })).body.error.code).toBe("NOT_FOUND");
    expect((await call(`${base}/${"9".repeat(5000)}`, { token: c.token })).status).toBe(404);
    const [m] = (await mitras(1)) as [Party];
    expect((await call(`${base}/${requestId}`, { token: m.token })).status).toBe(403);
    expect((await call(`${base}/${requestId}`)).status).toBe(401);
  });
});
