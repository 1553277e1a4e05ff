import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { HaloClient, HaloError } from "../../packages/client/src/node.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { everyoneOffline, setTunables } from "../support/pairing.js";
import { call } from "../support/people.js";
import { closeClients, droppingFrames, FetchTap, sdkCustomer, sdkMitra } from "../support/sdk.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { TcpProxy } from "../support/tcp-proxy.js";

const ctx = useGateways({
  env: { ...QUIET_SWEEPS, ENABLE_TEST_ROUTES: "true", HEARTBEAT_STALE_SECONDS: "60" },
});
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

let proxy: TcpProxy;
beforeAll(async () => {
  await setTunables(ctx.gateways, { otp_max_per_ip_per_hour: 100_000 });
  proxy = await TcpProxy.start(gw().publicUrl);
});
beforeEach(async () => {
  await everyoneOffline(gw());
  // Offers live 30 s: whatever the tests see within seconds is a frame sent again, not a next batch.
  await setTunables(ctx.gateways, { pairing_blast_size: 5, pairing_offer_ttl_seconds: 30 });
});
afterEach(() => closeClients());
afterAll(async () => {
  await proxy.close();
});

/** A mitra online with its socket open, through `baseUrl`. */
async function onlineSdkMitra(baseUrl = gw().publicUrl): Promise<{ client: HaloClient; id: string }> {
  const m = await sdkMitra(gw().internalUrl, baseUrl);
  await m.client.socket.connect();
  await m.client.goOnline();
  return m;
}

describe("pairing through the SDK when frames are lost", () => {
  it("a searching attempt learns of a match whose pairing.matched never reached it, without a reconnect", async () => {
    const mitra = await onlineSdkMitra();
    mitra.client.socket.on(
      "pairing.offer",
      (o) => void mitra.client.acceptOffer(o.requestId).catch(() => {}),
    );
    const customer = await sdkCustomer(gw().publicUrl, { webSocket: droppingFrames("pairing.matched") });
    await customer.socket.connect();
    const attempt = customer.requestPairing({ recheckEveryMs: 500 });
    const requestId = await attempt.requestId;
    const result = await attempt.result;
    expect(result).toMatchObject({ status: "matched", requestId, mitra: null });
    const { rows } = await gw().pool.query("SELECT id FROM chat_sessions WHERE pairing_request_id = $1", [
      requestId,
    ]);
    expect(result.status === "matched" && result.sessionId).toBe(rows[0]?.id);
    expect(customer.socket.connectAttempts).toBe(1);
  });

  it("a mitra hears each offer once, though the gateway sends it again after a reconnect", async () => {
    const mitra = await onlineSdkMitra(proxy.url);
    const frames: string[] = [];
    const events: string[] = [];
    mitra.client.socket.on("frame", (f) => f.type === "pairing.offer" && frames.push(f.requestId as string));
    mitra.client.socket.on("pairing.offer", (o) => events.push(o.requestId));
    const customer = await sdkCustomer(gw().publicUrl);
    await customer.socket.connect();
    const requestId = await customer.requestPairing().requestId;
    await waitFor(() => frames.length === 1, 3000);
    proxy.cut();
    // The new socket's greeting carries the open offer again.
    await waitFor(() => frames.length === 2, 5000);
    expect(frames).toEqual([requestId, requestId]);
    expect(events).toEqual([requestId]);
    expect(await mitra.client.acceptOffer(requestId)).toEqual(expect.any(String));
  });

  it("an accept whose connection is cut before its answer is retried until the offer expires and gets the session", async () => {
    const mitra = await onlineSdkMitra(proxy.url);
    let accepted: Promise<string> | null = null;
    mitra.client.socket.on("pairing.offer", (offer) => {
      // The accept frame is written, then the connection dies: its answer (if any) is lost.
      accepted = mitra.client.acceptOffer(offer);
      proxy.cut();
    });
    const customer = await sdkCustomer(gw().publicUrl);
    await customer.socket.connect();
    const attempt = customer.requestPairing();
    const requestId = await attempt.requestId;
    await waitFor(() => accepted !== null, 3000);
    const sessionId = await (accepted as unknown as Promise<string>);
    const { rows } = await gw().pool.query("SELECT id FROM chat_sessions WHERE pairing_request_id = $1", [
      requestId,
    ]);
    expect(sessionId).toBe(rows[0]?.id);
    expect(await attempt.result).toMatchObject({ status: "matched", sessionId });
    expect(mitra.client.socket.connectAttempts).toBeGreaterThanOrEqual(2);
  });

  it("an accept told PAIRING_TAKEN while the winner's transaction fails hears the offer again and wins it", async () => {
    const a = await onlineSdkMitra();
    const b = await onlineSdkMitra();
    const heardByB: string[] = [];
    const offered = (m: { client: HaloClient }) =>
      new Promise<{ requestId: string; expiresAt: string }>((r) => m.client.socket.once("pairing.offer", r));
    const [offerA, offerB] = [offered(a), offered(b)];
    b.client.socket.on("pairing.offer", (o) => heardByB.push(o.requestId));
    const customer = await sdkCustomer(gw().publicUrl);
    await customer.socket.connect();
    const attempt = customer.requestPairing();
    const requestId = await attempt.requestId;
    await Promise.all([offerA, offerB]);
    // A's accept wins the claim, then waits on A's row, held here, inside its transaction.
    const holder = await gw().pool.connect();
    try {
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM mitras WHERE id = $1 FOR UPDATE", [a.id]);
      const acceptA = a.client.acceptOffer(requestId).then(
        () => "won",
        (e: HaloError) => e.code,
      );
      let waiting: number | undefined;
      await waitFor(async () => {
        const { rows } = await gw().pool.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%max_concurrent_sessions%'`,
        );
        waiting = rows[0]?.pid;
        return waiting !== undefined;
      }, 5000);
      await expect(b.client.acceptOffer(requestId)).rejects.toMatchObject({ code: "PAIRING_TAKEN" });
      // A's transaction dies (its connection is cut): the claim is given back and the offer sent again.
      await gw().pool.query("SELECT pg_terminate_backend($1)", [waiting]);
      expect(await acceptA).not.toBe("won");
    } finally {
      await holder.query("ROLLBACK").catch(() => {});
      holder.release();
    }
    await waitFor(() => heardByB.length === 2, 3000);
    expect(heardByB).toEqual([requestId, requestId]);
    const sessionId = await b.client.acceptOffer(requestId);
    expect(await attempt.result).toMatchObject({ status: "matched", sessionId });
  });

  it("logoutAll refused by the server (503) keeps the tokens and throws; called again it signs out everywhere", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch });
    await customer.socket.connect();
    const token = (await customer.auth.current())?.accessToken as string;
    tap.refuseNext("/logout-all");
    await expect(customer.auth.logoutAll()).rejects.toMatchObject({ code: "DEPENDENCY_UNAVAILABLE" });
    expect((await customer.auth.current())?.accessToken).toBe(token);
    expect(customer.socket.state).not.toBe("stopped");
    await customer.auth.logoutAll();
    expect(await customer.auth.current()).toBeNull();
    expect(tap.to("/logout-all").map((c) => c.status)).toEqual([503, 204]);
    const r = await call(`${gw().publicUrl}/api/client/auth/me`, { token });
    expect(r.body.error.code).toBe("SESSION_REVOKED");
  });
});
