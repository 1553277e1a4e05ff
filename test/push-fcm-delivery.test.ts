import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authHeader, post } from "./support/auth.js";
import { FakeFcm } from "./support/fake-fcm.js";
import { type TestGateway, waitFor } from "./support/gateway.js";
import { metricValue } from "./support/metrics.js";
import { chatPair } from "./support/push.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";
import type { WsClient } from "./support/ws-client.js";

/**
 * The whole path with PUSH_PROVIDER=fcm against the fake FCM: a chat message
 * to a customer with no socket, through the dispatcher, the queue and the
 * FCM provider.
 */
const fake = new FakeFcm("halo-delivery");
/** Filled in once the fake listens; the gateway reads it when it starts (after this file's beforeAll). */
const env: Record<string, string> = { ...QUIET_SWEEPS, PUSH_PROVIDER: "fcm", FCM_PROJECT_ID: fake.projectId };
beforeAll(async () => {
  await fake.start();
  env.FCM_SERVICE_ACCOUNT_FILE = await fake.writeServiceAccountFile();
  env.FCM_API_URL = fake.url;
  env.FCM_TOKEN_URL = fake.tokenUrl;
});
const ctx = useGateways({ env });
afterAll(() => fake.stop());
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

const sockets: WsClient[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((ws) => ws.close()));
});

/** The chat pushes FCM accepted for a device (the session's own updates may be pushed too). */
const chats = (token: string) => fake.messagesTo(token).filter((m) => m.data.type === "chat.message");

const metric = (name: string): Promise<number> => metricValue(gw().internalUrl, name);

async function say(ws: WsClient, sessionId: string, clientMsgId: string): Promise<string> {
  const ack = await ws.request({ type: "chat.send", sessionId, clientMsgId, text: "hi" });
  expect(ack.type).toBe("ack");
  return (ack.message as { id: string }).id;
}

describe("push delivery through FCM", () => {
  it("a push answered 503 twice and then accepted reaches the device once", async () => {
    const { session, mitraWs } = await chatPair(gw(), "fcm-device-1");
    sockets.push(mitraWs);
    // Any push of the session's own setup still in flight goes first.
    await new Promise((r) => setTimeout(r, 200));
    const retriedBefore = await metric("halo_push_retried_total");
    fake.failNext(2, { kind: "unavailable" });
    const messageId = await say(mitraWs, session.id, "a1");
    // Backoff 500 ms then 1 s, ±50 %.
    await waitFor(() => chats("fcm-device-1").length === 1, 4000);
    expect(chats("fcm-device-1")[0]?.data).toEqual({
      type: "chat.message",
      sessionId: session.id,
      messageId,
    });
    expect(await metric("halo_push_retried_total")).toBe(retriedBefore + 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(chats("fcm-device-1")).toHaveLength(1);
  });

  it("a token FCM calls unregistered is deleted, and not pushed to again", async () => {
    const { session, mitraWs } = await chatPair(gw(), "fcm-device-2");
    sockets.push(mitraWs);
    await new Promise((r) => setTimeout(r, 200));
    fake.failNext(1, { kind: "unregistered" });
    await say(mitraWs, session.id, "b1");
    await waitFor(async () => {
      const { rowCount } = await gw().pool.query("SELECT 1 FROM push_devices WHERE token = $1", [
        "fcm-device-2",
      ]);
      return rowCount === 0;
    }, 2000);
    const sends = fake.sendRequests;
    await say(mitraWs, session.id, "b2");
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.sendRequests).toBe(sends);
  });

  it("after the customer logs out, its device gets no more pushes", async () => {
    const { customer, session, mitraWs } = await chatPair(gw(), "fcm-device-3");
    sockets.push(mitraWs);
    await say(mitraWs, session.id, "c1");
    await waitFor(() => chats("fcm-device-3").length === 1, 2000);

    const out = await post(
      gw().publicUrl,
      "/api/shared/auth/logout",
      undefined,
      authHeader(customer.accessToken),
    );
    expect(out.status).toBe(204);
    await say(mitraWs, session.id, "c2");
    await new Promise((r) => setTimeout(r, 300));
    expect(chats("fcm-device-3")).toHaveLength(1);
  });
});
