import { expect } from "vitest";
import type { PushPlatform } from "../../src/push/push-provider.js";
import { insertPendingSession, type SessionView } from "../../src/sessions/session-store.js";
import { anonymousCustomer, authHeader, type Pair, post } from "./auth.js";
import type { TestGateway } from "./gateway.js";
import { mitraToken, seedMitra } from "./mitras.js";
import { WsClient, wsUrl } from "./ws-client.js";

/** Registers the signed-in device's push token (POST /api/{client,mitra}/devices). */
export async function registerDevice(
  gw: TestGateway,
  side: "client" | "mitra",
  accessToken: string,
  deviceToken: string,
  platform: PushPlatform = side === "mitra" ? "android" : "ios",
): Promise<void> {
  const res = await post(
    gw.publicUrl,
    `/api/${side}/devices`,
    { platform, token: deviceToken },
    authHeader(accessToken),
  );
  expect(res.status).toBeLessThan(300);
}

export interface ChatPair {
  customer: Pair;
  session: SessionView;
  /** The mitra's socket (its hello read). */
  mitraWs: WsClient;
}

/**
 * An active chat session whose customer has a registered device (registered
 * once the session is active) and no socket, and whose mitra has a socket on `mitraGw`: every message the mitra
 * sends is pushed to the customer. The caller closes `mitraWs`.
 */
export async function chatPair(
  gw: TestGateway,
  deviceToken: string,
  mitraGw: TestGateway = gw,
): Promise<ChatPair> {
  const customer = await anonymousCustomer(gw.publicUrl);
  const mitraId = await seedMitra(gw.pool, { online: true, heartbeatAt: new Date() });
  const s = gw.gateway.services;
  let session = await insertPendingSession(gw.pool, {
    customerId: customer.user.id,
    mitraId,
    pairingRequestId: null,
    now: new Date(),
    paymentTimeoutSeconds: 300,
  });
  await s.sessions.opened(session);
  session = await s.sessions.confirmPayment({ userType: "customer", userId: customer.user.id }, session.id);
  // After the session's own updates, so the device's first push is the test's.
  await registerDevice(gw, "client", customer.accessToken, deviceToken);
  const mitraWs = await WsClient.connect(wsUrl(mitraGw.publicUrl, "/ws"), {
    token: await mitraToken(gw, mitraId),
  });
  await mitraWs.next("hello");
  return { customer, session, mitraWs };
}
