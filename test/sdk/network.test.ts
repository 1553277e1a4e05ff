import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HaloClient } from "../../packages/client/src/node.js";
import { insertPendingSession } from "../../src/sessions/session-store.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { setTunables } from "../support/pairing.js";
import { closeClients, nextEvent, sdkCustomer, sdkMitra, sleep } from "../support/sdk.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { TcpProxy } from "../support/tcp-proxy.js";

// HEARTBEAT_STALE_SECONDS=3: mitras heartbeat every second, so a dead path shows within one.
const ctx = useGateways({
  env: { ...QUIET_SWEEPS, ENABLE_TEST_ROUTES: "true", HEARTBEAT_STALE_SECONDS: "3" },
});
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

let proxy: TcpProxy;
beforeAll(async () => {
  await setTunables(ctx.gateways, { otp_max_per_ip_per_hour: 100_000 });
  proxy = await TcpProxy.start(gw().publicUrl);
});
afterEach(() => {
  closeClients();
  proxy.refuse(false);
  proxy.blackhole(false);
  proxy.delay(0);
});
afterAll(async () => {
  await proxy.close();
});

/** An active chat session between a customer and a mitra signed in through the SDK. */
async function activeSession(customer: HaloClient, mitraId: string): Promise<string> {
  const customerId = (await customer.auth.user())?.id as string;
  const s = gw().gateway.services;
  const session = await insertPendingSession(gw().pool, {
    customerId,
    mitraId,
    pairingRequestId: null,
    now: new Date(),
    paymentTimeoutSeconds: 300,
  });
  await s.sessions.opened(session);
  await customer.sessions.pay(session.id);
  return session.id;
}

describe("the SDK through a network that fails", () => {
  it("a cut drops every connection: the socket backs off while the network refuses, then comes back and sends what waited", async () => {
    const customer = await sdkCustomer(proxy.url);
    const mitra = await sdkMitra(gw().internalUrl, gw().publicUrl);
    await Promise.all([customer.socket.connect(), mitra.client.socket.connect()]);
    const sessionId = await activeSession(customer, mitra.id);
    const c = customer.conversation(sessionId);
    const m = mitra.client.conversation(sessionId);
    await c.send("before the cut");

    const waits: number[] = [];
    customer.socket.on("disconnected", (d) => waits.push(d.retryInMs ?? -1));
    const attemptsBefore = customer.socket.connectAttempts;
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => customer.socket.state === "waiting", 2000, 5);
    const queued = [c.send("during 1"), c.send("during 2")];
    await sleep(2500);
    // Full jitter under a doubling ceiling (100, 200, 400, 800, 1000 ms): a handful of tries, not a storm.
    const attemptsDuringCut = customer.socket.connectAttempts - attemptsBefore;
    expect(attemptsDuringCut).toBeGreaterThanOrEqual(2);
    expect(attemptsDuringCut).toBeLessThanOrEqual(12);
    waits.forEach((w, i) => {
      expect(w).toBeGreaterThanOrEqual(0);
      expect(w).toBeLessThan(Math.min(1000, 100 * 2 ** i));
    });
    expect(c.pending().map((p) => p.text)).toEqual(["during 1", "during 2"]);

    proxy.refuse(false);
    await Promise.all(queued);
    await waitFor(() => m.messages.length === 3, 5000);
    expect(m.messages.map((x) => x.text)).toEqual(["before the cut", "during 1", "during 2"]);
    expect(customer.socket.state).toBe("open");
  });

  it("a blackholed path (no FIN, no RST) is found dead by the idle probe and replaced", async () => {
    const customer = await sdkCustomer(proxy.url, { socket: { idleProbeMs: 500, requestTimeoutMs: 800 } });
    await customer.socket.connect();
    const firstSocket = customer.socket.connectAttempts;
    proxy.blackhole(true);
    const dropped = await nextEvent(customer.socket, "disconnected", 5000);
    expect(dropped).toMatchObject({ code: 1006, reason: "probe unanswered" });
    proxy.blackhole(false);
    await nextEvent(customer.socket, "hello", 5000);
    expect(customer.socket.connectAttempts).toBeGreaterThan(firstSocket);
    // The probe keeps answering on the new path.
    await sleep(1500);
    expect(customer.socket.state).toBe("open");
  });

  it("a mitra's unanswered heartbeat drops a dead path, and the heartbeats go on after the reconnect", async () => {
    const mitra = await sdkMitra(gw().internalUrl, proxy.url, { socket: { idleProbeMs: 0 } });
    await mitra.client.goOnline();
    const hello = await mitra.client.socket.connect();
    expect(hello.heartbeatIntervalSeconds).toBe(1);
    proxy.blackhole(true);
    const dropped = await nextEvent(mitra.client.socket, "disconnected", 5000);
    expect(dropped.reason).toBe("heartbeat unanswered");
    proxy.blackhole(false);
    await nextEvent(mitra.client.socket, "hello", 5000);
    const k = gw().gateway.services.keys;
    const before = await gw().valkey?.get(k.mitraHeartbeat(mitra.id));
    await sleep(1500);
    const after = await gw().valkey?.get(k.mitraHeartbeat(mitra.id));
    expect(after).not.toBe(before);
  });

  it("a slow network (250 ms each way) delays answers but loses and reorders nothing", async () => {
    const customer = await sdkCustomer(proxy.url);
    const mitra = await sdkMitra(gw().internalUrl, gw().publicUrl);
    await Promise.all([customer.socket.connect(), mitra.client.socket.connect()]);
    const sessionId = await activeSession(customer, mitra.id);
    const c = customer.conversation(sessionId);
    const m = mitra.client.conversation(sessionId);
    proxy.delay(250);
    const started = Date.now();
    const sent = await Promise.all(Array.from({ length: 10 }, (_, i) => c.send(`slow ${i}`)));
    // One frame in flight at a time, each a 500 ms round trip at least.
    expect(Date.now() - started).toBeGreaterThanOrEqual(10 * 500);
    await waitFor(() => m.messages.length === 10, 5000);
    expect(m.messages.map((x) => x.id)).toEqual(sent.map((x) => x.id));
  }, 30_000);

  it("a pairing.request whose ack was lost is retried with the same idempotency key: one request, and its outcome is read back", async () => {
    const customer = await sdkCustomer(proxy.url);
    const hello = await customer.socket.connect();
    // The frame reaches the gateway (200 ms late); the cut then eats the ack and the
    // NO_MITRA_AVAILABLE that follows it (nobody is online in this test).
    proxy.delay(200);
    const attempt = customer.requestPairing();
    await sleep(300);
    proxy.cut();
    proxy.delay(0);
    const requestId = await attempt.requestId;
    expect(await attempt.result).toEqual({ status: "failed", requestId, reason: "NO_MITRA_AVAILABLE" });
    const { rows } = await gw().pool.query<{ id: string }>(
      "SELECT id FROM pairing_requests WHERE customer_id = $1",
      [hello.userId],
    );
    expect(rows.map((r) => r.id)).toEqual([requestId]);
    expect(customer.socket.connectAttempts).toBe(2);
  });

  it("4008: a socket closed for flooding the gateway comes back after a backoff", async () => {
    // A client that ignores the frame budget (the SDK's default stays under the gateway's limit).
    const customer = await sdkCustomer(gw().publicUrl, {
      socket: { maxFramesPerSecond: 10_000, frameBurst: 10_000, requestTimeoutMs: 20_000 },
    });
    const token = await customer.auth.getAccessToken();
    await customer.socket.connect();
    const closed = nextEvent(customer.socket, "disconnected", 12_000);
    const flood = setInterval(() => {
      for (let i = 0; i < 20; i++)
        customer.socket.request("auth.refresh", { accessToken: token.token }).catch(() => {});
    }, 100);
    const d = await closed;
    clearInterval(flood);
    expect(d.code).toBe(4008);
    expect(d.retryInMs).not.toBeNull();
    await nextEvent(customer.socket, "hello", 5000);
    expect(customer.socket.state).toBe("open");
  }, 20_000);
});
