import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type HaloClient,
  nodeWebSocketFactory,
  type SignedOut,
  type StopReason,
  type WebSocketFactory,
  type WebSocketLike,
} from "../../packages/client/src/node.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { setTunables } from "../support/pairing.js";
import { closeClients, countingWebSocket, nextEvent, sdkClient, sdkMitra, sleep } from "../support/sdk.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { TcpProxy } from "../support/tcp-proxy.js";

const ctx = useGateways({ env: { ...QUIET_SWEEPS, ENABLE_TEST_ROUTES: "true" } });
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

let proxy: TcpProxy;
beforeAll(async () => {
  // The second device signs in right after the first: no resend cooldown.
  await setTunables(ctx.gateways, { otp_max_per_ip_per_hour: 100_000, otp_resend_cooldown_seconds: 0 });
  proxy = await TcpProxy.start(gw().publicUrl);
});
afterEach(() => {
  closeClients();
  proxy.refuse(false);
});
afterAll(async () => {
  await proxy.close();
});

/** The same mitra signed in on a second device. */
async function secondDevice(phone: string): Promise<HaloClient> {
  const other = sdkClient(gw().publicUrl);
  const { requestId } = await other.auth.requestOtp("mitra", phone);
  const res = await fetch(`${gw().internalUrl}/internal/_test/otp?phone=${encodeURIComponent(phone)}`);
  const { code } = (await res.json()) as { code: string };
  await other.auth.verifyOtp("mitra", requestId, code);
  return other;
}

function watch(client: HaloClient): { signedOut: SignedOut[]; stopped: StopReason[] } {
  const seen = { signedOut: [] as SignedOut[], stopped: [] as StopReason[] };
  client.auth.on("signedOut", (s) => seen.signedOut.push(s));
  client.socket.on("stopped", (s) => seen.stopped.push(s.reason));
  return seen;
}

/** `ws`, but hiding the upgrade's HTTP status from the SDK, as a browser's WebSocket does. */
const browserLikeWebSocket =
  (count: { n: number }): WebSocketFactory =>
  (url, token) => {
    count.n++;
    const ws = nodeWebSocketFactory(url, token);
    const wrapper: WebSocketLike = {
      get readyState() {
        return ws.readyState;
      },
      send: (data) => ws.send(data),
      close: (code, reason) => ws.close(code, reason),
      set onopen(fn) {
        ws.onopen = fn;
      },
      get onopen() {
        return ws.onopen;
      },
      set onmessage(fn) {
        ws.onmessage = fn;
      },
      get onmessage() {
        return ws.onmessage;
      },
      set onclose(fn) {
        ws.onclose = fn;
      },
      get onclose() {
        return ws.onclose;
      },
      set onerror(fn) {
        ws.onerror = fn ? () => fn({ type: "error" }) : null;
      },
      get onerror() {
        return ws.onerror;
      },
    };
    return wrapper;
  };

describe("a revoked session", () => {
  it("logout-all on another device stops the socket within a second, ends the session once, and makes no further attempt", async () => {
    const counting = countingWebSocket();
    const a = await sdkMitra(gw().internalUrl, gw().publicUrl, { webSocket: counting.factory });
    await a.client.socket.connect();
    const seen = watch(a.client);
    const b = await secondDevice(a.phone);
    const started = Date.now();
    await b.auth.logoutAll();
    await waitFor(() => a.client.socket.state === "stopped", 2000, 5);
    expect(Date.now() - started).toBeLessThan(1500);
    const attempts = counting.count();
    await sleep(3000);
    expect(counting.count() - attempts).toBe(0);
    expect(seen.stopped).toEqual(["REVOKED"]);
    expect(seen.signedOut.map((s) => s.reason)).toEqual(["SESSION_REVOKED"]);
    expect(await a.client.auth.current()).toBeNull();
    await expect(a.client.auth.me()).rejects.toMatchObject({ code: "NOT_SIGNED_IN" });
    // b revoked itself too (logout-all), and knows it.
    expect(await b.auth.current()).toBeNull();
  });

  it("revoked while offline: the first connection after the network returns learns it and stops", async () => {
    const counting = countingWebSocket();
    const a = await sdkMitra(gw().internalUrl, proxy.url, { webSocket: counting.factory });
    await a.client.socket.connect();
    const seen = watch(a.client);
    proxy.refuse(true);
    proxy.cut();
    await waitFor(() => a.client.socket.state === "waiting", 2000, 5);
    await (await secondDevice(a.phone)).auth.logoutAll();
    await sleep(1000);
    const atReturn = counting.count();
    proxy.refuse(false);
    await waitFor(() => a.client.socket.state === "stopped", 5000, 10);
    await sleep(2000);
    // The one attempt that got 401 at the upgrade; the SDK then asked /me (SESSION_REVOKED) and stopped.
    expect(counting.count() - atReturn).toBeLessThanOrEqual(1);
    expect(seen.stopped).toEqual(["REVOKED"]);
    expect(seen.signedOut.map((s) => s.reason)).toEqual(["SESSION_REVOKED"]);
  });

  it("a WebSocket that hides the upgrade's status (browsers) still stops after at most two refused attempts", async () => {
    const count = { n: 0 };
    const a = await sdkMitra(gw().internalUrl, gw().publicUrl, { webSocket: browserLikeWebSocket(count) });
    await a.client.socket.connect();
    const seen = watch(a.client);
    // Revoked while the socket was away: it learns it only by trying.
    a.client.socket.close();
    await (await secondDevice(a.phone)).auth.logoutAll();
    const before = count.n;
    const stopped = nextEvent(a.client.socket, "stopped", 5000);
    void a.client.socket.connect().catch(() => {});
    await stopped;
    await sleep(2000);
    expect(count.n - before).toBeLessThanOrEqual(2);
    expect(seen.stopped).toEqual(["CLOSED", "REVOKED"]);
    expect(seen.signedOut.map((s) => s.reason)).toEqual(["SESSION_REVOKED"]);
  });
});
