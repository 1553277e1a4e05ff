import { afterAll, describe, expect, it } from "vitest";
import { insertMessage, type MessageView } from "../src/sessions/message-store.js";
import { insertPendingSession, type SessionView } from "../src/sessions/session-store.js";
import { anonymousCustomer, type Pair } from "./support/auth.js";
import type { TestGateway } from "./support/gateway.js";
import { mitraToken, seedMitra } from "./support/mitras.js";
import { call } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";
import { type Frame, WsClient, wsUrl } from "./support/ws-client.js";

const ctx = useGateways({ count: 2, env: { ...QUIET_SWEEPS } });
const gw = (i = 0): TestGateway => ctx.gateways[i] as TestGateway;
const services = (i = 0) => gw(i).gateway.services;

const sockets: WsClient[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((ws) => ws.close()));
});

interface Chatters {
  session: SessionView;
  customer: Pair;
  customerId: string;
  mitraId: string;
  mitra: string;
  /** The customer's socket, on gateway 0. */
  customerWs: WsClient;
  /** The mitra's socket, on gateway 1. */
  mitraWs: WsClient;
}

async function socket(i: number, token: string): Promise<WsClient> {
  const ws = await WsClient.connect(wsUrl(gw(i).publicUrl, "/ws"), { token });
  sockets.push(ws);
  await ws.next("hello");
  return ws;
}

/** An active session whose customer sits on gateway 0 and whose mitra sits on gateway 1. */
async function chatters(opts: { paid?: boolean } = {}): Promise<Chatters> {
  const customer = await anonymousCustomer(gw().publicUrl);
  const mitraId = await seedMitra(gw().pool, { online: true, heartbeatAt: new Date() });
  const mitra = await mitraToken(gw(), mitraId);
  let session = await insertPendingSession(gw().pool, {
    customerId: customer.user.id,
    mitraId,
    pairingRequestId: null,
    now: new Date(),
    paymentTimeoutSeconds: 300,
  });
  await services().sessions.opened(session);
  if (opts.paid !== false) {
    session = await services().sessions.confirmPayment(
      { userType: "customer", userId: customer.user.id },
      session.id,
    );
  }
  return {
    session,
    customer,
    customerId: customer.user.id,
    mitraId,
    mitra,
    customerWs: await socket(0, customer.accessToken),
    mitraWs: await socket(1, mitra),
  };
}

const send = (ws: WsClient, sessionId: string, clientMsgId: string, text: string): Promise<Frame> =>
  ws.request({ type: "chat.send", sessionId, clientMsgId, text });

async function storedCount(sessionId: string): Promise<number> {
  const { rows } = await gw().pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM chat_messages WHERE session_id = $1",
    [sessionId],
  );
  return rows[0]?.n ?? -1;
}

/** Every page of `GET …/messages` from the start, `limit` at a time. */
async function catchUp(i: number, path: string, token: string, limit: number, after?: string) {
  const items: MessageView[] = [];
  const cursors: (string | null)[] = [];
  let cursor = after;
  for (let page = 0; page < 1000; page++) {
    const q = new URLSearchParams({ limit: String(limit), ...(cursor ? { after: cursor } : {}) });
    const r = await call(`${gw(i).publicUrl}${path}?${q}`, { token });
    expect(r.status).toBe(200);
    expect(Object.keys(r.body).sort()).toEqual(["items", "nextCursor"]);
    items.push(...r.body.items);
    cursors.push(r.body.nextCursor);
    if (r.body.nextCursor === null) return { items, cursors, last: r.body.items.at(-1)?.id ?? cursor };
    cursor = r.body.nextCursor;
  }
  throw new Error("catch-up did not end");
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("chat.send", () => {
  it("a message from the customer reaches the mitra on another process, stored first, and the other way round", async () => {
    const c = await chatters();
    const ack = await send(c.customerWs, c.session.id, "c-1", "Halo, apa kabar?");
    expect(ack.type).toBe("ack");
    expect(Object.keys(ack).sort()).toEqual(["id", "message", "type"]);
    expect(ack.message).toEqual({
      id: expect.any(String),
      sessionId: c.session.id,
      senderType: "customer",
      senderId: c.customerId,
      clientMsgId: "c-1",
      text: "Halo, apa kabar?",
      createdAt: expect.stringMatching(ISO_MS),
    });
    const got = await c.mitraWs.next("chat.message");
    expect(got).toEqual({ type: "chat.message", message: ack.message });
    expect(await storedCount(c.session.id)).toBe(1);

    const reply = await send(c.mitraWs, c.session.id, "m-1", "Baik!");
    expect(reply.message).toMatchObject({ senderType: "mitra", senderId: c.mitraId, text: "Baik!" });
    expect((await c.customerWs.next("chat.message")).message).toEqual(reply.message);
    // The sender is not sent its own message.
    await sleep(200);
    expect(c.customerWs.frames.filter((f) => f.type === "chat.message")).toHaveLength(1);
    expect(c.mitraWs.frames.filter((f) => f.type === "chat.message")).toHaveLength(1);
  });

  it("a retry with the same clientMsgId returns the first message, stores one row and delivers once", async () => {
    const c = await chatters();
    const first = await send(c.customerWs, c.session.id, "dup", "first text");
    const again = await send(c.customerWs, c.session.id, "dup", "first text");
    const changed = await send(c.customerWs, c.session.id, "dup", "a different text");
    expect(again.message).toEqual(first.message);
    expect(changed.message).toEqual(first.message);
    expect(await storedCount(c.session.id)).toBe(1);
    await sleep(300);
    expect(c.mitraWs.frames.filter((f) => f.type === "chat.message")).toHaveLength(1);
  });

  it("the same clientMsgId sent at once on two processes stores one message", async () => {
    const c = await chatters();
    const other = await socket(1, c.customer.accessToken);
    const acks = await Promise.all([
      ...[0, 1, 2].map(() => send(c.customerWs, c.session.id, "race", "hi")),
      ...[0, 1, 2].map(() => send(other, c.session.id, "race", "hi")),
    ]);
    const ids = new Set(acks.map((a) => a.message.id));
    expect(ids.size).toBe(1);
    expect(await storedCount(c.session.id)).toBe(1);
  });

  it("messages of many sessions sent in the same instant go in one statement: each stored once, in order, to its own recipient, and a stranger's among them refused", async () => {
    const all = await Promise.all([0, 1, 2, 3].map(() => chatters()));
    const [a, b] = all as [Chatters, Chatters];
    const sent = all.flatMap((c) => [
      send(c.customerWs, c.session.id, "x1", `1 to ${c.mitraId}`),
      send(c.customerWs, c.session.id, "x2", `2 to ${c.mitraId}`),
      send(c.mitraWs, c.session.id, "x1", `1 to ${c.customerId}`),
    ]);
    // In the same ticks: a stranger writing into another session, and a same-tick duplicate.
    const stranger = send(b.customerWs, a.session.id, "x9", "not mine");
    const dup = send(a.customerWs, a.session.id, "x1", "a duplicate");
    const acks = await Promise.all(sent);
    expect(acks.every((f) => f.type === "ack")).toBe(true);
    expect(await stranger).toMatchObject({ type: "error", code: "NOT_FOUND" });
    expect((await dup).message).toEqual(acks[0]?.message);
    await sleep(300);
    for (const c of all) {
      expect(await storedCount(c.session.id)).toBe(3);
      const toMitra = c.mitraWs.frames.filter((f) => f.type === "chat.message").map((f) => f.message.text);
      expect(toMitra).toEqual([`1 to ${c.mitraId}`, `2 to ${c.mitraId}`]);
      const toCustomer = c.customerWs.frames
        .filter((f) => f.type === "chat.message")
        .map((f) => f.message.text);
      expect(toCustomer).toEqual([`1 to ${c.customerId}`]);
      const page = await catchUp(
        0,
        `/api/client/sessions/${c.session.id}/messages`,
        c.customer.accessToken,
        50,
      );
      expect(page.items.filter((m) => m.senderType === "customer").map((m) => m.clientMsgId)).toEqual([
        "x1",
        "x2",
      ]);
    }
  });

  it("the same clientMsgId from the other party is another message", async () => {
    const c = await chatters();
    const a = await send(c.customerWs, c.session.id, "1", "from customer");
    const b = await send(c.mitraWs, c.session.id, "1", "from mitra");
    expect(a.message.id).not.toBe(b.message.id);
    expect(await storedCount(c.session.id)).toBe(2);
  });

  it("a session waiting for payment or ended refuses messages with 409 SESSION_STATE and its status", async () => {
    const c = await chatters({ paid: false });
    const pending = await send(c.customerWs, c.session.id, "p", "too early");
    expect(pending).toMatchObject({ type: "error", code: "SESSION_STATE", status: "pending_payment" });
    await services(1).sessions.end({ userType: "mitra", userId: c.mitraId }, c.session.id);
    const ended = await send(c.mitraWs, c.session.id, "e", "too late");
    expect(ended).toMatchObject({ type: "error", code: "SESSION_STATE", status: "ended" });
    expect(await storedCount(c.session.id)).toBe(0);
  });

  it("a message after expires_at is refused, and the session is seen ended EXPIRED", async () => {
    const c = await chatters();
    await gw().pool.query("UPDATE chat_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [
      c.session.id,
    ]);
    const r = await send(c.customerWs, c.session.id, "late", "still there?");
    expect(r).toMatchObject({ type: "error", code: "SESSION_STATE", status: "ended" });
    const f = await c.mitraWs.next("session.updated");
    expect(f.session).toMatchObject({ status: "ended", endReason: "EXPIRED" });
    expect(await storedCount(c.session.id)).toBe(0);
  });

  it("a stranger cannot send to or read a session: 404 NOT_FOUND", async () => {
    const c = await chatters();
    await send(c.customerWs, c.session.id, "x", "private");
    const stranger = await anonymousCustomer(gw().publicUrl);
    const ws = await socket(1, stranger.accessToken);
    const r = await send(ws, c.session.id, "x", "let me in");
    expect(r).toMatchObject({ type: "error", code: "NOT_FOUND" });
    const read = await call(`${gw().publicUrl}/api/client/sessions/${c.session.id}/messages`, {
      token: stranger.accessToken,
    });
    expect(read.status).toBe(404);
    expect(read.body.error.code).toBe("NOT_FOUND");
    const otherMitra = await mitraToken(gw(), await seedMitra(gw().pool));
    const mitraWs = await socket(0, otherMitra);
    expect(await send(mitraWs, c.session.id, "y", "me too")).toMatchObject({ code: "NOT_FOUND" });
    expect(await storedCount(c.session.id)).toBe(1);
  });

  it("malformed and hostile chat.send frames answer VALIDATION_FAILED, never a 500, and the socket stays open", async () => {
    const c = await chatters();
    const sid = c.session.id;
    const frames: Record<string, unknown>[] = [
      { type: "chat.send", sessionId: sid, clientMsgId: "a", text: "" },
      { type: "chat.send", sessionId: sid, clientMsgId: "a", text: "x".repeat(4001) },
      { type: "chat.send", sessionId: sid, clientMsgId: "a", text: "nul \u0000 inside" },
      { type: "chat.send", sessionId: sid, clientMsgId: "nul\u0000", text: "hi" },
      { type: "chat.send", sessionId: sid, clientMsgId: "", text: "hi" },
      { type: "chat.send", sessionId: sid, clientMsgId: "k".repeat(129), text: "hi" },
      { type: "chat.send", sessionId: sid, clientMsgId: 5, text: "hi" },
      { type: "chat.send", sessionId: sid, clientMsgId: "a", text: ["hi"] },
      { type: "chat.send", sessionId: sid, clientMsgId: "a", text: "hi", senderId: c.mitraId },
      { type: "chat.send", sessionId: "'; DROP TABLE chat_messages; --", clientMsgId: "a", text: "hi" },
      { type: "chat.send", sessionId: null, clientMsgId: "a", text: "hi" },
      { type: "chat.send", clientMsgId: "a", text: "hi" },
    ];
    for (const frame of frames) {
      const r = await c.customerWs.request(frame);
      expect({ frame: JSON.stringify(frame).slice(0, 100), type: r.type, code: r.code }).toEqual({
        frame: JSON.stringify(frame).slice(0, 100),
        type: "error",
        code: "VALIDATION_FAILED",
      });
    }
    expect(c.customerWs.closedNow).toBeUndefined();
    // The longest allowed text, and SQL-ish text, are stored verbatim.
    const long = await send(c.customerWs, sid, "long", "y".repeat(4000));
    expect(long.message.text).toHaveLength(4000);
    const sqlish = "'); DELETE FROM chat_messages; --";
    expect((await send(c.customerWs, sid, "sql", sqlish)).message.text).toBe(sqlish);
    expect(await storedCount(sid)).toBe(2);
  });
});

describe("catch-up with GET …/messages", () => {
  it("returns every message once, oldest first, page by page, for both parties on either process", async () => {
    const c = await chatters();
    const sent: MessageView[] = [];
    for (let i = 0; i < 7; i++) {
      const ws = i % 2 === 0 ? c.customerWs : c.mitraWs;
      sent.push((await send(ws, c.session.id, `m${i}`, `message ${i}`)).message);
    }
    const customerView = await catchUp(
      0,
      `/api/client/sessions/${c.session.id}/messages`,
      c.customer.accessToken,
      3,
    );
    expect(customerView.items).toEqual(sent);
    expect(customerView.cursors).toEqual([sent[2]?.id, sent[5]?.id, null]);
    const mitraView = await catchUp(1, `/api/mitra/sessions/${c.session.id}/messages`, c.mitra, 200);
    expect(mitraView.items).toEqual(sent);
    expect(mitraView.cursors).toEqual([null]);

    // The default page is 50; after the last message there is nothing more.
    const all = await call(`${gw().publicUrl}/api/client/sessions/${c.session.id}/messages`, {
      token: c.customer.accessToken,
    });
    expect(all.body).toEqual({ items: sent, nextCursor: null });
    const after = await call(
      `${gw().publicUrl}/api/client/sessions/${c.session.id}/messages?after=${sent[6]?.id}`,
      { token: c.customer.accessToken },
    );
    expect(after.body).toEqual({ items: [], nextCursor: null });
    // An exact multiple of the page: the last full page still says whether more follow.
    const exact = await catchUp(
      0,
      `/api/client/sessions/${c.session.id}/messages`,
      c.customer.accessToken,
      7,
    );
    expect(exact.cursors).toEqual([null]);
  });

  it("a reader catching up while both parties send at once never misses a message nor sees one twice", async () => {
    const c = await chatters();
    const N = 40;
    const reader = { items: [] as MessageView[], cursor: undefined as string | undefined, done: false };
    const poll = (async () => {
      while (!reader.done) {
        const page = await catchUp(
          1,
          `/api/mitra/sessions/${c.session.id}/messages`,
          c.mitra,
          5,
          reader.cursor,
        );
        reader.items.push(...page.items);
        reader.cursor = page.last;
      }
    })();
    const customerSends = Array.from({ length: N }, (_, i) =>
      send(c.customerWs, c.session.id, `c${i}`, `c${i}`),
    );
    const mitraSends = Array.from({ length: N }, (_, i) => send(c.mitraWs, c.session.id, `m${i}`, `m${i}`));
    const acks = await Promise.all([...customerSends, ...mitraSends]);
    expect(acks.every((a) => a.type === "ack")).toBe(true);
    reader.done = true;
    await poll;
    const rest = await catchUp(1, `/api/mitra/sessions/${c.session.id}/messages`, c.mitra, 50, reader.cursor);
    reader.items.push(...rest.items);
    const ids = reader.items.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(2 * N);
    const { rows } = await gw().pool.query<{ id: string }>(
      "SELECT id FROM chat_messages WHERE session_id = $1 ORDER BY seq",
      [c.session.id],
    );
    expect(ids).toEqual(rows.map((r) => r.id));
  });

  it("a message still being stored by another process holds back later ones, so a reader's cursor never skips it", async () => {
    const c = await chatters();
    // Another process's send, caught between its INSERT and its COMMIT.
    const slow = await gw().pool.connect();
    try {
      await slow.query("BEGIN");
      const inFlight = await insertMessage(
        slow,
        {
          sessionId: c.session.id,
          senderType: "customer",
          senderId: c.customerId,
          clientMsgId: "slow",
          text: "1",
        },
        new Date(),
      );
      expect(inFlight).toBeDefined();
      const later = send(c.mitraWs, c.session.id, "fast", "2");
      await sleep(300);
      const path = `/api/mitra/sessions/${c.session.id}/messages`;
      const early = await catchUp(1, path, c.mitra, 50);
      await slow.query("COMMIT");
      expect((await later).type).toBe("ack");
      const rest = await catchUp(1, path, c.mitra, 50, early.last);
      expect([...early.items, ...rest.items].map((m) => m.text)).toEqual(["1", "2"]);
    } finally {
      slow.release();
    }
  });

  it("stays readable by both parties after the session ended", async () => {
    const c = await chatters();
    const m = (await send(c.customerWs, c.session.id, "bye", "terima kasih")).message;
    await services().sessions.end({ userType: "customer", userId: c.customerId }, c.session.id);
    const r = await call(`${gw(1).publicUrl}/api/mitra/sessions/${c.session.id}/messages`, {
      token: c.mitra,
    });
    expect(r.body).toEqual({ items: [m], nextCursor: null });
  });

  it("an unknown or foreign `after` is 400 VALIDATION_FAILED", async () => {
    const a = await chatters();
    const b = await chatters();
    const foreign = (await send(b.customerWs, b.session.id, "f", "other session")).message.id;
    const r = await call(`${gw().publicUrl}/api/client/sessions/${a.session.id}/messages?after=${foreign}`, {
      token: a.customer.accessToken,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("VALIDATION_FAILED");
    expect(r.body.error.issues[0].path).toBe("after");
  });
});
