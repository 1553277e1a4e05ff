import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatMessage, Conversation } from "../../packages/client/src/node.js";
import { nodeWebSocketFactory, type WebSocketFactory } from "../../packages/client/src/node.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { setTunables } from "../support/pairing.js";
import { closeClients, sdkCustomer, sdkMitra, sleep } from "../support/sdk.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { TcpProxy } from "../support/tcp-proxy.js";

// Two processes: the customer on one, the mitra on the other, each behind a proxy the test cuts.
const ctx = useGateways({ count: 2, env: { ...QUIET_SWEEPS, ENABLE_TEST_ROUTES: "true" } });
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;

let toCustomer: TcpProxy;
let toMitra: TcpProxy;
beforeAll(async () => {
  await setTunables(ctx.gateways, {
    otp_max_per_ip_per_hour: 100_000,
    pairing_blast_size: 5,
    pairing_offer_ttl_seconds: 30,
    pairing_max_wait_seconds: 120,
  });
  toCustomer = await TcpProxy.start(gw(0).publicUrl);
  toMitra = await TcpProxy.start(gw(1).publicUrl);
});
afterAll(async () => {
  closeClients();
  await toCustomer.close();
  await toMitra.close();
});

const PER_SIDE = 500;

/** The Node WebSocket, counting the chat.send frames that leave (resends included). */
let chatSends = 0;
const countingSends: WebSocketFactory = (url, token) => {
  const ws = nodeWebSocketFactory(url, token);
  const send = ws.send.bind(ws);
  ws.send = (data: string) => {
    if (data.includes('"chat.send"')) chatSends++;
    send(data);
  };
  return ws;
};

describe("a conversation of 1,000 messages with reconnects in the middle", () => {
  it("every message is delivered exactly once and in order on both sides", async () => {
    const mitra = await sdkMitra(gw(1).internalUrl, toMitra.url, { webSocket: countingSends });
    await mitra.client.goOnline();
    await mitra.client.socket.connect();
    mitra.client.socket.on(
      "pairing.offer",
      (o) => void mitra.client.acceptOffer(o.requestId).catch(() => {}),
    );
    const customer = await sdkCustomer(toCustomer.url, { webSocket: countingSends });
    await customer.socket.connect();
    const matched = await customer.requestPairing().result;
    if (matched.status !== "matched") throw new Error(`pairing failed: ${matched.reason}`);
    expect(matched.mitra?.id).toBe(mitra.id);
    await customer.sessions.pay(matched.sessionId);

    const c = customer.conversation(matched.sessionId);
    const m = mitra.client.conversation(matched.sessionId);
    let drops = 0;
    customer.socket.on("disconnected", () => drops++);
    mitra.client.socket.on("disconnected", () => drops++);

    // Both parties type at once; the network fails under them three times.
    let acked = 0;
    const cuts = new Map<number, () => void>([
      [150, () => toCustomer.cut()],
      [400, () => toMitra.cut()],
      [
        700,
        () => {
          toCustomer.refuse(true);
          toMitra.refuse(true);
          toCustomer.cut();
          toMitra.cut();
          setTimeout(() => {
            toCustomer.refuse(false);
            toMitra.refuse(false);
          }, 700);
        },
      ],
    ]);
    const onAck = () => cuts.get(++acked)?.();
    const sendAll = (conv: Conversation, prefix: string) =>
      Array.from({ length: PER_SIDE }, (_, i) =>
        conv.send(`${prefix}${i}`).then((msg) => {
          onAck();
          return msg;
        }),
      );
    const sent = await Promise.all([...sendAll(c, "c"), ...sendAll(m, "m")]);
    expect(acked).toBe(2 * PER_SIDE);
    // Some frames were in flight when a cut came: resent with their clientMsgId, stored once.
    expect(chatSends).toBeGreaterThanOrEqual(2 * PER_SIDE);

    await waitFor(() => c.messages.length >= 2 * PER_SIDE && m.messages.length >= 2 * PER_SIDE, 20_000);
    await sleep(500); // nothing more may arrive: no duplicate late
    expect(drops).toBeGreaterThanOrEqual(4);

    const ids = (ms: readonly ChatMessage[]) => ms.map((x) => x.id);
    expect(c.messages).toHaveLength(2 * PER_SIDE);
    expect(m.messages).toHaveLength(2 * PER_SIDE);
    expect(new Set(ids(c.messages)).size).toBe(2 * PER_SIDE);
    // The same order on both sides, and it is the gateway's.
    expect(ids(m.messages)).toEqual(ids(c.messages));
    const stored = await gw(0).pool.query<{ id: string }>(
      "SELECT id FROM chat_messages WHERE session_id = $1 ORDER BY seq",
      [matched.sessionId],
    );
    expect(stored.rows.map((r) => r.id)).toEqual(ids(c.messages));
    // Each party's messages in the order it sent them, each once despite the resends.
    for (const prefix of ["c", "m"]) {
      const own = c.messages.filter((x) => x.text.startsWith(prefix)).map((x) => x.text);
      expect(own).toEqual(Array.from({ length: PER_SIDE }, (_, i) => `${prefix}${i}`));
    }
    expect(new Set(sent.map((x) => x.id)).size).toBe(2 * PER_SIDE);
    expect(c.pending()).toEqual([]);
    expect(m.pending()).toEqual([]);
  }, 60_000);
});
