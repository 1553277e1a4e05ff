import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type ChatMessage,
  type HaloClient,
  MemoryTokenStore,
  type PushDevice,
} from "../../packages/client/src/node.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { everyoneOffline, setTunables } from "../support/pairing.js";
import { closeClients, droppingFrames, FetchTap, sdkCustomer, sdkMitra, sleep } from "../support/sdk.js";
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
afterAll(async () => {
  await proxy.close();
});
beforeEach(async () => {
  await everyoneOffline(gw());
  await setTunables(ctx.gateways, { pairing_blast_size: 5, pairing_offer_ttl_seconds: 30 });
});
afterEach(() => closeClients());

let tokens = 0;
const device = (platform: PushDevice["platform"] = "android"): PushDevice => ({
  platform,
  token: `fcm-token-${process.pid}-${++tokens}`,
});

/** The push_devices rows holding `token` (at most one: a token lives on one auth session). */
async function rowsOf(token: string): Promise<{ auth_session_id: string; user_type: string }[]> {
  const { rows } = await gw().pool.query(
    "SELECT auth_session_id, user_type, platform FROM push_devices WHERE token = $1",
    [token],
  );
  return rows;
}

/** The `sid` claim of an access token (to tell auth sessions apart). */
const sidOf = (jwt: string): string =>
  JSON.parse(Buffer.from(jwt.split(".")[1] as string, "base64url").toString()).sid;

async function accessToken(client: HaloClient): Promise<string> {
  return (await client.auth.getAccessToken()).token;
}

describe("registering the device's push token", () => {
  it("a customer's token goes to POST /api/client/devices for its auth session; a mitra's to /api/mitra/devices", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch });
    const d = device("ios");
    await customer.registerDevice(d);
    expect(tap.to("/devices").map((c) => [c.path, c.status, JSON.parse(c.body ?? "")])).toEqual([
      ["/api/client/devices", 204, { platform: "ios", token: d.token }],
    ]);
    expect(await rowsOf(d.token)).toEqual([
      { auth_session_id: sidOf(await accessToken(customer)), user_type: "customer", platform: "ios" },
    ]);

    const mitraTap = new FetchTap();
    const mitra = await sdkMitra(gw().internalUrl, gw().publicUrl, { fetch: mitraTap.fetch });
    const m = device();
    await mitra.client.registerDevice(m);
    expect(mitraTap.to("/devices").map((c) => [c.path, c.status])).toEqual([["/api/mitra/devices", 204]]);
    expect(await rowsOf(m.token)).toMatchObject([{ user_type: "mitra", platform: "android" }]);
  });

  it("survives refresh rotations without a second POST; the same token again is harmless; unregister removes it", async () => {
    const tap = new FetchTap();
    const store = new MemoryTokenStore();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch, store });
    const d = device();
    await customer.registerDevice(d);
    await customer.auth.refresh();
    await customer.auth.refresh();
    await customer.socket.connect();
    await sleep(100);
    expect(tap.to("/devices")).toHaveLength(1);
    expect(store.load()?.pushDevice).toEqual({ ...d, registered: true });
    expect(await rowsOf(d.token)).toHaveLength(1);

    await customer.registerDevice(d);
    expect(tap.to("/devices").map((c) => c.status)).toEqual([204, 204]);
    expect(await rowsOf(d.token)).toHaveLength(1);

    await customer.unregisterDevice();
    expect(tap.to("/devices").at(-1)).toMatchObject({ path: "/api/client/devices/current", status: 204 });
    expect(await rowsOf(d.token)).toEqual([]);
    expect(store.load()?.pushDevice).toBeUndefined();
    // Forgotten: a reconnect does not bring it back.
    customer.socket.close();
    await customer.socket.connect();
    await sleep(100);
    expect(await rowsOf(d.token)).toEqual([]);
  });

  it("after logout the gateway has dropped the token and the SDK never registers it again", async () => {
    const tap = new FetchTap();
    const store = new MemoryTokenStore();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch, store });
    const d = device();
    await customer.registerDevice(d);
    await customer.auth.logout();
    expect(await rowsOf(d.token)).toEqual([]);
    expect(store.load()).toBeNull();

    // The next user signs in on this device: no POST until the app registers for that session.
    await customer.auth.signInAnonymous("Next");
    await customer.socket.connect();
    await sleep(200);
    expect(tap.to("/devices")).toHaveLength(1);
    expect(await rowsOf(d.token)).toEqual([]);
  });

  it("a sign-in that replaces the session (an anonymous customer linking a phone) moves the token to the new session", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch });
    const d = device();
    await customer.registerDevice(d);
    const before = sidOf(await accessToken(customer));
    const phone = `08${String(Date.now()).slice(-9)}`;
    const { requestId } = await customer.auth.requestOtp("customer", phone);
    const codeRes = await fetch(`${gw().internalUrl}/internal/_test/otp?phone=${encodeURIComponent(phone)}`);
    const { code } = (await codeRes.json()) as { code: string };
    await customer.auth.verifyOtp("customer", requestId, code);
    const after = sidOf(await accessToken(customer));
    expect(after).not.toBe(before);
    await waitFor(async () => (await rowsOf(d.token))[0]?.auth_session_id === after, 3000);
    // The row moves at the server's commit; the 204 reaches the SDK a moment later.
    await waitFor(async () => (await customer.auth.pushDevice())?.registered === true, 3000);
    expect(tap.to("/devices").map((c) => c.status)).toEqual([204, 204]);
  });

  it("a token the gateway refuses is reported and not retried on every hello", async () => {
    const tap = new FetchTap();
    const customer = await sdkCustomer(gw().publicUrl, { fetch: tap.fetch });
    await expect(customer.registerDevice({ platform: "android", token: "has spaces" })).rejects.toMatchObject(
      {
        code: "VALIDATION_FAILED",
      },
    );
    expect(await customer.auth.pushDevice()).toBeNull();
    await customer.socket.connect();
    await sleep(100);
    expect(tap.to("/devices")).toHaveLength(1);
  });
});

/** A mitra online with its socket open, paired with a new customer in a paid session. */
async function paidSession(
  customerUrl = gw().publicUrl,
): Promise<{ customer: HaloClient; mitra: HaloClient; sessionId: string }> {
  const mitra = await sdkMitra(gw().internalUrl, gw().publicUrl);
  await mitra.client.socket.connect();
  await mitra.client.goOnline();
  mitra.client.socket.on("pairing.offer", (o) => void mitra.client.acceptOffer(o.requestId).catch(() => {}));
  const customer = await sdkCustomer(customerUrl);
  await customer.socket.connect();
  const result = await customer.requestPairing().result;
  if (result.status !== "matched") throw new Error(`pairing failed: ${result.reason}`);
  await customer.sessions.pay(result.sessionId);
  return { customer, mitra: mitra.client, sessionId: result.sessionId };
}

describe("resumeFromPush", () => {
  it("reconnects a closed socket and delivers a chat message sent while the app was away, exactly once", async () => {
    const { customer, mitra, sessionId } = await paidSession();
    const conversation = customer.conversation(sessionId);
    const heard: ChatMessage[] = [];
    conversation.on("message", (m) => heard.push(m));
    const first = await mitra.conversation(sessionId).send("before");
    await waitFor(() => heard.length === 1, 3000);

    // The app goes to the background: its socket is gone.
    customer.close();
    expect(customer.socket.state).toBe("stopped");
    const away = await mitra.conversation(sessionId).send("while you were away");

    await customer.resumeFromPush({ type: "chat.message", sessionId, messageId: away.id });
    expect(customer.socket.state).toBe("open");
    expect(customer.socket.connectAttempts).toBe(2);
    // Resolved means caught up: no waiting for it.
    expect(heard.map((m) => m.id)).toEqual([first.id, away.id]);
    expect(conversation.lastMessageId).toBe(away.id);

    // Later frames and reads do not repeat it.
    await customer.resumeFromPush({ type: "chat.message", sessionId, messageId: away.id });
    const next = await mitra.conversation(sessionId).send("next");
    await waitFor(() => heard.length === 3, 3000);
    await sleep(200);
    expect(heard.map((m) => m.text)).toEqual(["before", "while you were away", "next"]);
    expect(next.id).toBe(heard[2]?.id);
  });

  it("an open socket that still answers is kept (no reconnect), and the conversation reads the log once more", async () => {
    const { customer, mitra, sessionId } = await paidSession();
    const conversation = customer.conversation(sessionId);
    await conversation.catchUp();
    const sent = await mitra.conversation(sessionId).send("hi");
    await customer.resumeFromPush({ type: "chat.message", sessionId, messageId: sent.id });
    expect(conversation.messages.map((m) => m.id)).toEqual([sent.id]);
    expect(customer.socket.connectAttempts).toBe(1);
  });

  it("a socket that looks open but slept dead is replaced, and what it missed is read", async () => {
    const { customer, mitra, sessionId } = await paidSession(proxy.url);
    const conversation = customer.conversation(sessionId);
    await conversation.catchUp();
    // The path dies without a close (a phone asleep): the socket still says "open".
    proxy.blackhole(true);
    const lost = await mitra.conversation(sessionId).send("into the void");
    expect(customer.socket.state).toBe("open");
    // The probe goes into the hole and is dropped; the network is back for the next connection.
    customer.socket.once("disconnected", () => proxy.blackhole(false));
    await customer.resumeFromPush({ type: "chat.message", sessionId, messageId: lost.id });
    expect(customer.socket.connectAttempts).toBe(2);
    expect(conversation.messages.map((m) => m.id)).toEqual([lost.id]);
  });

  it("a mitra brought back by an offer's push hears the open offer as a pairing.offer event", async () => {
    const mitra = await sdkMitra(gw().internalUrl, gw().publicUrl);
    await mitra.client.socket.connect();
    await mitra.client.goOnline();
    const offers: { requestId: string; expiresAt: string }[] = [];
    mitra.client.socket.on("pairing.offer", (o) => offers.push(o));
    // In the background: no socket (the mitra stays online until its heartbeat goes stale).
    mitra.client.close();

    const customer = await sdkCustomer(gw().publicUrl);
    await customer.socket.connect();
    const attempt = customer.requestPairing();
    const requestId = await attempt.requestId;
    await waitFor(async () => {
      const { rows } = await gw().pool.query("SELECT 1 FROM pairing_offers WHERE request_id = $1", [
        requestId,
      ]);
      return rows.length > 0;
    }, 3000);
    expect(offers).toEqual([]);

    await mitra.client.resumeFromPush({ type: "pairing.offer", requestId });
    await waitFor(() => offers.length === 1, 3000);
    expect(offers[0]?.requestId).toBe(requestId);
    const sessionId = await mitra.client.acceptOffer(offers[0] as { requestId: string; expiresAt: string });
    expect(await attempt.result).toMatchObject({ status: "matched", sessionId });
    await sleep(200);
    expect(offers).toHaveLength(1);
  });

  it("a customer brought back by a match's push learns of the match it never heard", async () => {
    const mitra = await sdkMitra(gw().internalUrl, gw().publicUrl);
    await mitra.client.socket.connect();
    await mitra.client.goOnline();
    let accepted: Promise<string> | undefined;
    mitra.client.socket.on("pairing.offer", (o) => {
      accepted = mitra.client.acceptOffer(o.requestId);
    });
    const customer = await sdkCustomer(gw().publicUrl, { webSocket: droppingFrames("pairing.matched") });
    await customer.socket.connect();
    // No periodic recheck: only the resume can tell.
    const attempt = customer.requestPairing({ recheckEveryMs: 0 });
    let settled = false;
    void attempt.result.then(() => {
      settled = true;
    });
    await attempt.requestId;
    await waitFor(() => accepted !== undefined, 3000);
    const sessionId = await accepted;
    await sleep(200);
    expect(settled).toBe(false);
    await customer.resumeFromPush({ type: "pairing.matched", sessionId: sessionId as string });
    expect(settled).toBe(true);
    expect(await attempt.result).toMatchObject({ status: "matched", sessionId, mitra: null });
  });

  it("signed out, it does nothing", async () => {
    const customer = await sdkCustomer(gw().publicUrl);
    await customer.auth.logout();
    await customer.resumeFromPush({ type: "chat.message", sessionId: "x" });
    expect(customer.socket.connectAttempts).toBe(0);
  });
});

/** The last push the gateway sent to `userId` (the `log` provider, through the test route), once there is one. */
async function lastPush(
  userId: string,
  type: string,
): Promise<{ token: string; data: Record<string, string> }> {
  let found: { token: string; data: Record<string, string> } | undefined;
  await waitFor(async () => {
    const res = await fetch(`${gw().internalUrl}/internal/_test/push?userId=${encodeURIComponent(userId)}`);
    if (res.status !== 200) return false;
    const push = (await res.json()) as { token: string; data: Record<string, string> };
    if (push.data.type !== type) return false;
    found = push;
    return true;
  }, 3000);
  return found as { token: string; data: Record<string, string> };
}

describe("end to end: the gateway's push, then resumeFromPush with its data", () => {
  it("a chat message to a backgrounded customer: a push without text, then the message once", async () => {
    const { customer, mitra, sessionId } = await paidSession();
    const d = device();
    await customer.registerDevice(d);
    const conversation = customer.conversation(sessionId);
    await conversation.catchUp();
    customer.close();
    const sent = await mitra.conversation(sessionId).send("are you there?");
    const push = await lastPush((await customer.auth.user())?.id as string, "chat.message");
    expect(push).toEqual({
      platform: "android",
      token: d.token,
      data: { type: "chat.message", sessionId, messageId: sent.id },
    });
    await customer.resumeFromPush(push.data);
    expect(conversation.messages.map((m) => m.text)).toEqual(["are you there?"]);
  });

  it("an offer to a backgrounded mitra: a push with expiresAt, then the offer as a pairing.offer event", async () => {
    const mitra = await sdkMitra(gw().internalUrl, gw().publicUrl);
    await mitra.client.socket.connect();
    await mitra.client.goOnline();
    await mitra.client.registerDevice(device("ios"));
    const offers: string[] = [];
    mitra.client.socket.on("pairing.offer", (o) => offers.push(o.requestId));
    mitra.client.close();
    const customer = await sdkCustomer(gw().publicUrl);
    await customer.socket.connect();
    const requestId = await customer.requestPairing().requestId;
    const push = await lastPush(mitra.id, "pairing.offer");
    expect(push.data).toEqual({ type: "pairing.offer", requestId, expiresAt: expect.any(String) });
    await mitra.client.resumeFromPush(push.data);
    await waitFor(() => offers.length === 1, 3000);
    expect(offers).toEqual([requestId]);
  });
});
