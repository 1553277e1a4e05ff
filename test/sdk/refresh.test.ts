import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HaloError, type SignedOut, type StopReason } from "../../packages/client/src/node.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { setTunables } from "../support/pairing.js";
import { closeClients, FetchTap, nextEvent, sdkCustomer, sdkMitra, sleep } from "../support/sdk.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { TcpProxy } from "../support/tcp-proxy.js";

// Access tokens live 4 s: the SDK refreshes in-band about every 2 s.
const ctx = useGateways({
  env: { ...QUIET_SWEEPS, ENABLE_TEST_ROUTES: "true", ACCESS_TOKEN_TTL_SECONDS: "4" },
});
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

let proxy: TcpProxy;
beforeAll(async () => {
  await setTunables(ctx.gateways, { otp_max_per_ip_per_hour: 100_000 });
  proxy = await TcpProxy.start(gw().publicUrl);
});
afterEach(() => closeClients());
afterAll(async () => {
  await proxy.close();
});

const presented = (tap: FetchTap): string[] =>
  tap.to("/auth/refresh").map((c) => JSON.parse(c.body ?? "{}").refreshToken as string);
const answered = (tap: FetchTap): (string | undefined)[] =>
  tap
    .to("/auth/refresh")
    .map((c) => (c.status === 200 ? JSON.parse(c.answer ?? "{}").refreshToken : undefined));

async function refreshWith(token: string): Promise<{ status: number; body: { refreshToken?: string } }> {
  const res = await fetch(`${gw().publicUrl}/api/shared/auth/refresh`, {
    method: "POST",
    body: JSON.stringify({ refreshToken: token }),
  });
  return { status: res.status, body: (await res.json()) as { refreshToken?: string } };
}

describe("refresh done right", () => {
  it("ten callers at once share one refresh", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch });
    const first = await customer.auth.getAccessToken();
    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => customer.auth.refresh()),
      ...Array.from({ length: 5 }, () => customer.auth.refreshAccessToken(first)),
    ]);
    expect(tap.to("/auth/refresh")).toHaveLength(1);
    expect(new Set(results.map((r) => ("accessToken" in r ? r.accessToken : r.token))).size).toBe(1);
    // A caller holding a token already replaced gets the current one without a second refresh.
    await customer.auth.refreshAccessToken(first);
    expect(tap.to("/auth/refresh")).toHaveLength(1);
  });

  it("a refresh whose answer was lost is retried with the same token and gets the same successor; the session goes on", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch });
    const hello = await customer.socket.connect();
    const signedOut: SignedOut[] = [];
    customer.auth.on("signedOut", (s) => signedOut.push(s));
    tap.loseNextResponses("/auth/refresh", 1);
    const after = await customer.auth.refresh();
    const [sent1, sent2] = presented(tap);
    expect(sent2).toBe(sent1);
    // The server answered both; the client saw only the second: the same successor both times.
    const [lost, retried] = answered(tap);
    expect(lost).toBeDefined();
    expect(retried).toBe(lost);
    expect(after.refreshToken).toBe(lost);
    // The chain goes on: in-band refreshes on the socket over several token lifetimes, no reconnect.
    const drops: number[] = [];
    customer.socket.on("disconnected", (d) => drops.push(d.code));
    await sleep(6000);
    expect(drops).toEqual([]);
    expect(signedOut).toEqual([]);
    expect(tap.to("/auth/refresh").length).toBeGreaterThanOrEqual(4);
    expect(new Set(presented(tap).slice(1)).size).toBe(presented(tap).length - 1);
    expect((await customer.auth.me()).id).toBe(hello.userId);
    expect(customer.socket.hello?.authSessionId).toBe(hello.authSessionId);
  }, 20_000);

  it("gives up retrying a lost refresh before the grace window ends, keeps the tokens, and the next try gets the successor", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, {
      fetch: tap.fetch,
      auth: { refreshGraceSeconds: 2 },
    });
    tap.loseNextResponses("/auth/refresh", 100);
    const started = Date.now();
    await expect(customer.auth.refresh()).rejects.toMatchObject({ code: "NETWORK_ERROR" });
    expect(Date.now() - started).toBeLessThan(2000);
    const tries = tap.to("/auth/refresh").length;
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(new Set(presented(tap)).size).toBe(1);
    expect(await customer.auth.current()).not.toBeNull();
    tap.loseNextResponses("/auth/refresh", 0);
    const after = await customer.auth.refresh();
    expect(after.refreshToken).toBe(answered(tap)[0]);
  });

  it("refresh racing a reconnect: the reconnect waits for the refresh in flight instead of starting another", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(proxy.url, { fetch: tap.fetch });
    const hello = await customer.socket.connect();
    const signedOut: SignedOut[] = [];
    customer.auth.on("signedOut", (s) => signedOut.push(s));
    // Each refresh answer takes 600 ms: the cut lands while one is in flight. The cut may drop the
    // refresh's own connection too (it shares the network): that refresh is then retried with the
    // same token (the grace window), which is still the one refresh, not a second.
    tap.holdResponses("/auth/refresh", 600);
    for (let round = 1; round <= 3; round++) {
      const before = tap.to("/auth/refresh").length;
      await waitFor(() => tap.to("/auth/refresh").length > before, 5000, 5);
      proxy.cut();
      await nextEvent(customer.socket, "hello", 5000);
      expect(new Set(presented(tap)).size).toBe(round);
    }
    // One chain: every call presents the token the call before presented (a retry) or got back.
    const calls = tap.to("/auth/refresh");
    for (let i = 1; i < calls.length; i++) {
      const prev = calls[i - 1];
      const sent = JSON.parse(calls[i]?.body ?? "{}").refreshToken;
      const prevGot = prev?.status === 200 ? JSON.parse(prev.answer ?? "{}").refreshToken : undefined;
      expect([JSON.parse(prev?.body ?? "{}").refreshToken, prevGot]).toContain(sent);
    }
    expect(tap.peakRefreshesInFlight).toBe(1);
    expect(signedOut).toEqual([]);
    expect(customer.socket.hello?.authSessionId).toBe(hello.authSessionId);
    expect((await customer.auth.me()).id).toBe(hello.userId);
  }, 30_000);

  it("4001: a token that expired before its refresh came back is refreshed, then the socket reconnects", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch });
    await customer.socket.connect();
    tap.holdResponses("/auth/refresh", 3500);
    const expired = nextEvent(customer.socket, "token.expired", 8000);
    const closed = nextEvent(customer.socket, "disconnected", 8000);
    await expired;
    expect((await closed).code).toBe(4001);
    // The in-band refresh was already in flight when the 4001 came: the reconnect waited for it.
    expect(tap.to("/auth/refresh")).toHaveLength(1);
    tap.holdResponses("/auth/refresh", 0);
    await nextEvent(customer.socket, "hello", 8000);
    // The token held 3.5 s may reach the socket with under a second left (the gateway's expiry is in
    // whole seconds): then one more 4001 round follows, and after it the in-band refresh holds.
    await sleep(3000);
    expect(customer.socket.state).toBe("open");
    expect(await customer.auth.current()).not.toBeNull();
    // Never two refreshes at once. (The one held 3.5 s may mint a token the gateway's whole-second
    // expiry already ends before the reconnect: the refused upgrade is then followed by one more.)
    expect(tap.peakRefreshesInFlight).toBe(1);
    expect(new Set(presented(tap)).size).toBe(presented(tap).length);
  }, 20_000);

  it("REFRESH_REUSED ends the session: tokens dropped, one signedOut, no retry, the socket stops", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, {
      fetch: tap.fetch,
      socket: { refreshAheadSeconds: 0.1 },
    });
    await customer.socket.connect();
    // A thief uses the refresh token twice: the chain moved on without us.
    const stolen = (await customer.auth.current())?.refreshToken as string;
    const r1 = await refreshWith(stolen);
    expect((await refreshWith(r1.body.refreshToken as string)).status).toBe(200);
    const signedOut: SignedOut[] = [];
    const stopped: StopReason[] = [];
    customer.auth.on("signedOut", (s) => signedOut.push(s));
    customer.socket.on("stopped", (s) => stopped.push(s.reason));
    const err = await customer.auth.refresh().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HaloError);
    expect((err as HaloError).code).toBe("REFRESH_REUSED");
    // The server revokes the session and tells the socket too: whichever arrives first ends it, once.
    expect(signedOut).toHaveLength(1);
    expect(["REFRESH_REUSED", "SESSION_REVOKED"]).toContain(signedOut[0]?.reason);
    expect(await customer.auth.current()).toBeNull();
    await waitFor(() => customer.socket.state === "stopped", 2000);
    const attempts = customer.socket.connectAttempts;
    await sleep(1500);
    expect(tap.to("/auth/refresh")).toHaveLength(1);
    expect(customer.socket.connectAttempts).toBe(attempts);
    expect(stopped).toHaveLength(1);
    await expect(customer.auth.getAccessToken()).rejects.toMatchObject({ code: "NOT_SIGNED_IN" });
  });

  it("ACCOUNT_INACTIVE, REFRESH_EXPIRED and SESSION_REVOKED end the session once, without a retry", async () => {
    const cases: [string, (userId: string, sid: string) => Promise<unknown>][] = [
      [
        "ACCOUNT_INACTIVE",
        (id) => gw().pool.query("UPDATE mitras SET is_active = false WHERE id = $1", [id]),
      ],
      [
        "REFRESH_EXPIRED",
        (_id, sid) =>
          gw().pool.query(
            "UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE session_id = $1",
            [sid],
          ),
      ],
      [
        "SESSION_REVOKED",
        (_id, sid) => gw().pool.query("UPDATE auth_sessions SET revoked_at = now() WHERE id = $1", [sid]),
      ],
    ];
    for (const [code, breakIt] of cases) {
      const tap = new FetchTap();
      const m = await sdkMitra(gw().internalUrl, gw().publicUrl, { fetch: tap.fetch });
      const hello = await m.client.socket.connect();
      const signedOut: SignedOut[] = [];
      m.client.auth.on("signedOut", (s) => signedOut.push(s));
      await breakIt(m.id, hello.authSessionId);
      await expect(m.client.auth.refresh()).rejects.toMatchObject({ code });
      expect(signedOut.map((s) => s.reason)).toEqual([code]);
      expect(tap.to("/auth/refresh")).toHaveLength(1);
      expect(await m.client.auth.current()).toBeNull();
      expect(m.client.socket.state).toBe("stopped");
    }
  });
});
