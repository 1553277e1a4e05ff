import { randomUUID } from "node:crypto";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { SessionView } from "../src/sessions/session-store.js";
import { insertPendingSession } from "../src/sessions/session-store.js";
import { anonymousCustomer, type Pair } from "./support/auth.js";
import { type TestGateway, waitFor } from "./support/gateway.js";
import { mitraToken, seedMitra } from "./support/mitras.js";
import { call, type Reply } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";
import { type Frame, WsClient, wsUrl } from "./support/ws-client.js";

/** Real time, shifted by a test that moves past a deadline (and puts it back). */
const clock = { shiftMs: 0, now: (): Date => new Date(Date.now() + clock.shiftMs) };
afterEach(() => {
  clock.shiftMs = 0;
});

const ctx = useGateways({ count: 2, env: { ...QUIET_SWEEPS }, now: clock.now });
const gw = (i = 0): TestGateway => ctx.gateways[i] as TestGateway;
const services = (i = 0) => gw(i).gateway.services;

const sockets: WsClient[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((ws) => ws.close()));
});

interface Parties {
  customer: Pair;
  customerId: string;
  mitraId: string;
  mitra: string;
  session: SessionView;
}

/** A customer, an online mitra and a new pending_payment session between them, opened on gateway 0. */
async function newSession(paymentTimeoutSeconds = 300): Promise<Parties> {
  const customer = await anonymousCustomer(gw().publicUrl);
  const mitraId = await seedMitra(gw().pool, { online: true, heartbeatAt: new Date() });
  const mitra = await mitraToken(gw(), mitraId);
  const session = await insertPendingSession(gw().pool, {
    customerId: customer.user.id,
    mitraId,
    pairingRequestId: null,
    now: clock.now(),
    paymentTimeoutSeconds,
  });
  await services().sessions.opened(session);
  return { customer, customerId: customer.user.id, mitraId, mitra, session };
}

async function activeSession(): Promise<Parties> {
  const p = await newSession();
  const paid = await pay(p);
  expect(paid.status).toBe(200);
  return { ...p, session: paid.body.session };
}

const api = (i: number, path: string): string => `${gw(i).publicUrl}${path}`;
const pay = (p: Parties, i = 0, headers?: Record<string, string>): Promise<Reply> =>
  headers
    ? rawPost(api(i, `/api/client/sessions/${p.session.id}/payment`), p.customer.accessToken, "{}", headers)
    : call(api(i, `/api/client/sessions/${p.session.id}/payment`), {
        token: p.customer.accessToken,
        body: {},
      });
const extend = (p: Parties, minutes: unknown, i = 0): Promise<Reply> =>
  call(api(i, `/api/client/sessions/${p.session.id}/extend`), {
    token: p.customer.accessToken,
    body: { minutes },
  });
const endAs = (p: Parties, who: "customer" | "mitra", i = 0): Promise<Reply> =>
  call(api(i, `/api/${who === "customer" ? "client" : "mitra"}/sessions/${p.session.id}/end`), {
    token: who === "customer" ? p.customer.accessToken : p.mitra,
    body: {},
  });

async function rawPost(url: string, token: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}`, ...headers },
    body,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** The session row as Postgres holds it. */
async function row(id: string) {
  const { rows } = await gw().pool.query<{
    status: string;
    end_reason: string | null;
    ended_at: Date | null;
    expires_at: Date | null;
    payment_deadline_at: Date | null;
  }>(
    "SELECT status, end_reason, ended_at, expires_at, payment_deadline_at FROM chat_sessions WHERE id = $1",
    [id],
  );
  return rows[0];
}

/** The mitra's capacity in Valkey (mirror) and in Postgres (truth). */
async function capacity(mitraId: string): Promise<{ valkey: string | null; postgres: number }> {
  const v = gw().valkey;
  if (!v) throw new Error("needs Valkey");
  const { rows } = await gw().pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM chat_sessions WHERE mitra_id = $1 AND status IN ('active', 'pending_payment')",
    [mitraId],
  );
  return { valkey: await v.get(services().keys.mitraCapacity(mitraId)), postgres: rows[0]?.n ?? -1 };
}

async function socket(i: number, token: string): Promise<WsClient> {
  const ws = await WsClient.connect(wsUrl(gw(i).publicUrl, "/ws"), { token });
  sockets.push(ws);
  await ws.next("hello");
  return ws;
}

const updates = (ws: WsClient, sessionId: string): Frame[] =>
  ws.frames.filter((f) => f.type === "session.updated" && f.session.id === sessionId);

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the session lifecycle", () => {
  it("a customer pays, the session runs session_minutes, and the customer ends it; capacity follows every step", async () => {
    const p = await newSession();
    expect(p.session).toEqual({
      id: p.session.id,
      status: "pending_payment",
      endReason: null,
      customerId: p.customerId,
      mitraId: p.mitraId,
      createdAt: expect.stringMatching(ISO_MS),
      paidAt: null,
      expiresAt: null,
      endedAt: null,
    });
    expect(await capacity(p.mitraId)).toEqual({ valkey: "1", postgres: 1 });

    const paid = await pay(p);
    expect(paid.status).toBe(200);
    const s = paid.body.session;
    expect(s.status).toBe("active");
    expect(s.paidAt).toMatch(ISO_MS);
    expect(Date.parse(s.expiresAt) - Date.parse(s.paidAt)).toBe(30 * 60_000);
    expect(await capacity(p.mitraId)).toEqual({ valkey: "1", postgres: 1 });

    for (const [path, token] of [
      [`/api/client/sessions/${p.session.id}`, p.customer.accessToken],
      [`/api/mitra/sessions/${p.session.id}`, p.mitra],
    ] as const) {
      const got = await call(api(1, path), { token });
      expect(got.status).toBe(200);
      expect(got.body).toEqual({ session: s });
    }

    const ended = await endAs(p, "customer");
    expect(ended.status).toBe(200);
    expect(ended.body.session).toMatchObject({ status: "ended", endReason: "ENDED_BY_CUSTOMER" });
    expect(ended.body.session.endedAt).toMatch(ISO_MS);
    expect(await capacity(p.mitraId)).toEqual({ valkey: "0", postgres: 0 });
  });

  it("a mitra ends a session that waits for payment, and its timer is cleared", async () => {
    const p = await newSession();
    const ended = await endAs(p, "mitra", 1);
    expect(ended.status).toBe(200);
    expect(ended.body.session).toMatchObject({ status: "ended", endReason: "ENDED_BY_MITRA", paidAt: null });
    expect(await capacity(p.mitraId)).toEqual({ valkey: "0", postgres: 0 });
  });

  it("either party ends an active session with the session.end frame, acknowledged with the session", async () => {
    const p = await activeSession();
    const ws = await socket(1, p.mitra);
    const ack = await ws.request({ type: "session.end", id: "e1", sessionId: p.session.id });
    expect(ack).toMatchObject({ type: "ack", id: "e1", session: { id: p.session.id, status: "ended" } });
    expect(ack.session.endReason).toBe("ENDED_BY_MITRA");
    expect(await capacity(p.mitraId)).toEqual({ valkey: "0", postgres: 0 });

    const again = await ws.request({ type: "session.end", id: 7, sessionId: p.session.id });
    expect(again).toMatchObject({ type: "error", id: 7, code: "SESSION_STATE", status: "ended" });
  });

  it("open sessions are listed for each party, and no longer once ended", async () => {
    const p = await newSession();
    const mine = await call(api(0, "/api/client/sessions?open=true"), { token: p.customer.accessToken });
    expect(mine.status).toBe(200);
    expect(mine.body.items.map((s: SessionView) => s.id)).toEqual([p.session.id]);
    const theirs = await call(api(1, "/api/mitra/sessions?open=true"), { token: p.mitra });
    expect(theirs.body.items.map((s: SessionView) => s.id)).toEqual([p.session.id]);
    await endAs(p, "customer");
    const after = await call(api(0, "/api/client/sessions?open=true"), { token: p.customer.accessToken });
    expect(after.body).toEqual({ items: [] });
  });
});

describe("payment", () => {
  it("is idempotent: a repeated confirmation answers the same session and changes nothing", async () => {
    const p = await newSession();
    const ws = await socket(0, p.customer.accessToken);
    const first = await pay(p);
    const second = await pay(p, 1);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    await sleep(300);
    expect(updates(ws, p.session.id).map((f) => f.session.status)).toEqual(["active"]);
  });

  it("with an Idempotency-Key, the same key answers the first result", async () => {
    const p = await newSession();
    const key = { "idempotency-key": randomUUID() };
    const first = await pay(p, 0, key);
    const replay = await pay(p, 1, key);
    expect(first.status).toBe(200);
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(first.body);
  });

  it("two confirmations at once on two processes activate the session once", async () => {
    const p = await newSession();
    const ws = await socket(1, p.mitra);
    const [a, b] = await Promise.all([pay(p, 0), pay(p, 1)]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.body.session).toEqual(b.body.session);
    await sleep(300);
    expect(updates(ws, p.session.id)).toHaveLength(1);
  });

  it("of an ended session answers 409 SESSION_STATE with its status", async () => {
    const p = await newSession();
    await endAs(p, "customer");
    const r = await pay(p);
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: "SESSION_STATE", status: "ended" });
    expect(typeof r.body.error.message).toBe("string");
  });

  it("after the payment deadline ends the session with PAYMENT_TIMEOUT instead, even before its timer", async () => {
    const p = await newSession();
    await gw().pool.query(
      "UPDATE chat_sessions SET payment_deadline_at = now() - interval '1 second' WHERE id = $1",
      [p.session.id],
    );
    const r = await pay(p, 1);
    expect(r.status).toBe(409);
    expect(r.body.error).toMatchObject({ code: "SESSION_STATE", status: "ended" });
    expect((await row(p.session.id))?.end_reason).toBe("PAYMENT_TIMEOUT");
    expect(await capacity(p.mitraId)).toEqual({ valkey: "0", postgres: 0 });
  });
});

describe("extend", () => {
  it("adds the minutes to an active session's expiry", async () => {
    const p = await activeSession();
    const r = await extend(p, 15, 1);
    expect(r.status).toBe(200);
    expect(Date.parse(r.body.session.expiresAt) - Date.parse(p.session.expiresAt as string)).toBe(
      15 * 60_000,
    );
    expect(r.body.session.status).toBe("active");
    const max = await extend(p, 120);
    expect(max.status).toBe(200);
  });

  it("is refused with 409 SESSION_STATE while the session waits for payment and once it ended", async () => {
    const p = await newSession();
    const pending = await extend(p, 10);
    expect(pending.status).toBe(409);
    expect(pending.body.error).toMatchObject({ code: "SESSION_STATE", status: "pending_payment" });
    await endAs(p, "mitra");
    const ended = await extend(p, 10);
    expect(ended.body.error).toMatchObject({ code: "SESSION_STATE", status: "ended" });
  });

  it("takes whole minutes from 1 to 120 only", async () => {
    const p = await activeSession();
    for (const minutes of [0, 121, -5, 1.5, "10", null, true, [], {}, "' OR 1=1 --", 1e21]) {
      const r = await extend(p, minutes);
      expect({ minutes, status: r.status, code: r.body.error.code }).toEqual({
        minutes,
        status: 400,
        code: "VALIDATION_FAILED",
      });
      expect(r.body.error.issues[0].path).toBe("minutes");
    }
    const missing = await rawPost(
      api(0, `/api/client/sessions/${p.session.id}/extend`),
      p.customer.accessToken,
      "",
    );
    expect(missing.status).toBe(400);
  });

  it("moves the session's timer: an extended session does not end at its old expiry", async () => {
    const p = await activeSession();
    await gw().pool.query("UPDATE chat_sessions SET expires_at = now() + interval '1 second' WHERE id = $1", [
      p.session.id,
    ]);
    // Both processes time the old expiry (what a restart would restore).
    await services(0).sessions.restoreTimers();
    await services(1).sessions.restoreTimers();
    const r = await extend(p, 1, 1);
    expect(r.status).toBe(200);
    await sleep(1800);
    expect((await row(p.session.id))?.status).toBe("active");
  });
});

describe("who may see a session", () => {
  it("someone else's session is 404 NOT_FOUND on every route, as an unknown one", async () => {
    const p = await activeSession();
    const stranger = await anonymousCustomer(gw().publicUrl);
    const otherMitraId = await seedMitra(gw().pool);
    const otherMitra = await mitraToken(gw(), otherMitraId);
    const id = p.session.id;
    const cases: [string, string, unknown, string][] = [
      ["GET", `/api/client/sessions/${id}`, undefined, stranger.accessToken],
      ["POST", `/api/client/sessions/${id}/payment`, {}, stranger.accessToken],
      ["POST", `/api/client/sessions/${id}/extend`, { minutes: 5 }, stranger.accessToken],
      ["POST", `/api/client/sessions/${id}/end`, {}, stranger.accessToken],
      ["GET", `/api/client/sessions/${id}/messages`, undefined, stranger.accessToken],
      ["GET", `/api/mitra/sessions/${id}`, undefined, otherMitra],
      ["POST", `/api/mitra/sessions/${id}/end`, {}, otherMitra],
      ["GET", `/api/mitra/sessions/${id}/messages`, undefined, otherMitra],
      ["GET", `/api/client/sessions/${randomUUID()}`, undefined, stranger.accessToken],
    ];
    for (const [method, path, body, token] of cases) {
      const r = await call(api(0, path), { method, token, ...(body === undefined ? {} : { body }) });
      expect({ path, status: r.status, code: r.body.error.code }).toEqual({
        path,
        status: 404,
        code: "NOT_FOUND",
      });
    }
    const ws = await socket(0, stranger.accessToken);
    const refused = await ws.request({ type: "session.end", sessionId: id });
    expect(refused).toMatchObject({ type: "error", code: "NOT_FOUND" });
    expect((await row(id))?.status).toBe("active");
  });

  it("a token of the other user type is 403 FORBIDDEN; no token is 401", async () => {
    const p = await newSession();
    const mitraOnClient = await call(api(0, `/api/client/sessions/${p.session.id}/payment`), {
      token: p.mitra,
      body: {},
    });
    expect(mitraOnClient.status).toBe(403);
    const anonymous = await call(api(0, `/api/client/sessions/${p.session.id}`));
    expect(anonymous.status).toBe(401);
  });
});

describe("session.updated", () => {
  it("reaches both parties on two different processes after every transition", async () => {
    const p = await newSession();
    const customerWs = await socket(0, p.customer.accessToken);
    const mitraWs = await socket(1, p.mitra);
    await pay(p, 1);
    for (const ws of [customerWs, mitraWs]) {
      const f = await ws.next("session.updated");
      expect(f.session).toMatchObject({ id: p.session.id, status: "active" });
    }
    await extend(p, 5, 0);
    for (const ws of [customerWs, mitraWs]) {
      const f = await ws.next("session.updated");
      expect(f.session.status).toBe("active");
      expect(Date.parse(f.session.expiresAt) - Date.parse(f.session.paidAt)).toBe(35 * 60_000);
    }
    await endAs(p, "customer", 0);
    for (const ws of [customerWs, mitraWs]) {
      const f = await ws.next("session.updated");
      expect(f.session).toMatchObject({ status: "ended", endReason: "ENDED_BY_CUSTOMER" });
      expect(Object.keys(f).sort()).toEqual(["session", "type"]);
    }
  });
});

describe("timers", () => {
  it("the payment timeout ends a session that was not paid in time, tells both parties and frees the mitra", async () => {
    const p = await newSession(1);
    const customerWs = await socket(1, p.customer.accessToken);
    const f = await customerWs.next("session.updated", 4000);
    expect(f.session).toMatchObject({ id: p.session.id, status: "ended", endReason: "PAYMENT_TIMEOUT" });
    const r = await row(p.session.id);
    expect(r?.ended_at?.toISOString()).toBe(r?.payment_deadline_at?.toISOString());
    expect(await capacity(p.mitraId)).toEqual({ valkey: "0", postgres: 0 });
  });

  it("the expiry ends an active session at expires_at", async () => {
    const p = await activeSession();
    const mitraWs = await socket(0, p.mitra);
    await gw().pool.query("UPDATE chat_sessions SET expires_at = now() + interval '1 second' WHERE id = $1", [
      p.session.id,
    ]);
    await services(1).sessions.restoreTimers();
    const f = await mitraWs.next("session.updated", 4000);
    expect(f.session).toMatchObject({ id: p.session.id, status: "ended", endReason: "EXPIRED" });
    expect(f.session.endedAt).toBe((await row(p.session.id))?.expires_at?.toISOString());
    expect(await capacity(p.mitraId)).toEqual({ valkey: "0", postgres: 0 });
  });

  it("a replayed expiry on two processes ends the session once and tells each party once", async () => {
    const p = await activeSession();
    const customerWs = await socket(0, p.customer.accessToken);
    const mitraWs = await socket(1, p.mitra);
    await gw().pool.query("UPDATE chat_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [
      p.session.id,
    ]);
    const results = await Promise.all([
      services(0).sessions.expire(p.session.id),
      services(1).sessions.expire(p.session.id),
      services(1).sessions.expire(p.session.id),
    ]);
    expect(results.filter((r) => r !== null).map((r) => r?.endReason)).toEqual(["EXPIRED"]);
    expect(await services(0).sessions.onDue(p.session.id)).toBeNull();
    await sleep(400);
    for (const ws of [customerWs, mitraWs]) {
      expect(updates(ws, p.session.id).map((f) => f.session.endReason)).toEqual(["EXPIRED"]);
    }
  });

  it("the overdue sweep ends every overdue session once the clock passes its deadline, on two processes at once", async () => {
    const pending = await newSession();
    const active = await activeSession();
    const customerWs = await socket(0, active.customer.accessToken);
    // The deadlines move into the past, not the clock forward: a clock two hours on would also let
    // the socket housekeeping close the customer's socket as expired (its token would be, then).
    // The in-process timers still wait for the old deadlines, so only the sweep can end these.
    await gw().pool.query(
      `UPDATE chat_sessions SET payment_deadline_at = now() - interval '1 second' WHERE id = $1`,
      [pending.session.id],
    );
    await gw().pool.query(`UPDATE chat_sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [
      active.session.id,
    ]);
    const [a, b] = await Promise.all([
      services(0).scheduler.runNow("overdue_sessions"),
      services(1).scheduler.runNow("overdue_sessions"),
    ]);
    expect([a?.outcome, b?.outcome]).toContain("done");
    const pr = await row(pending.session.id);
    expect(pr).toMatchObject({ status: "ended", end_reason: "PAYMENT_TIMEOUT" });
    expect(pr?.ended_at?.toISOString()).toBe(pr?.payment_deadline_at?.toISOString());
    const ar = await row(active.session.id);
    expect(ar).toMatchObject({ status: "ended", end_reason: "EXPIRED" });
    expect(ar?.ended_at?.toISOString()).toBe(ar?.expires_at?.toISOString());
    for (const mitraId of [pending.mitraId, active.mitraId]) {
      expect(await capacity(mitraId)).toEqual({ valkey: "0", postgres: 0 });
    }
    // The push crosses processes (Valkey pub/sub): wait for it, then a little more for a duplicate.
    await waitFor(() => updates(customerWs, active.session.id).length > 0, 3000);
    await sleep(300);
    expect(updates(customerWs, active.session.id).map((f) => f.session.endReason)).toEqual(["EXPIRED"]);
    // Nothing overdue is left: another run changes nothing.
    expect(await services(1).scheduler.runNow("overdue_sessions")).toEqual({ outcome: "done", changed: 0 });
  });

  it("a read of a session past its deadline sees it ended, whether or not a timer fired", async () => {
    const p = await activeSession();
    await gw().pool.query("UPDATE chat_sessions SET expires_at = now() - interval '1 second' WHERE id = $1", [
      p.session.id,
    ]);
    const got = await call(api(1, `/api/mitra/sessions/${p.session.id}`), { token: p.mitra });
    expect(got.body.session).toMatchObject({ status: "ended", endReason: "EXPIRED" });
    const list = await call(api(0, "/api/client/sessions?open=true"), { token: p.customer.accessToken });
    expect(list.body.items).toEqual([]);
  });
});

describe("reroute", () => {
  it("a mitra going offline ends its sessions that wait for payment with REROUTED, not its active ones", async () => {
    const pending = await newSession();
    const active = await activeSession();
    // The same mitra holds both: move the active one over.
    await gw().pool.query("UPDATE chat_sessions SET mitra_id = $2 WHERE id = $1", [
      active.session.id,
      pending.mitraId,
    ]);
    const rerouted: [string, string][] = [];
    const hooks = services(1).sessionHooks;
    const original = hooks.onRerouted;
    hooks.onRerouted = async (customerId, sessionId) => void rerouted.push([customerId, sessionId]);
    try {
      const customerWs = await socket(0, pending.customer.accessToken);
      const off = await call(api(1, "/api/mitra/status/offline"), { token: pending.mitra, body: {} });
      expect(off.status).toBe(200);
      const f = await customerWs.next("session.updated");
      expect(f.session).toMatchObject({ id: pending.session.id, status: "ended", endReason: "REROUTED" });
      expect(rerouted).toEqual([[pending.customerId, pending.session.id]]);
      expect((await row(active.session.id))?.status).toBe("active");
      expect(await capacity(pending.mitraId)).toEqual({ valkey: "1", postgres: 1 });
      // A repeat finds nothing left to reroute.
      expect(await services(0).sessions.rerouteMitras([pending.mitraId])).toEqual([]);
    } finally {
      hooks.onRerouted = original;
    }
  });
});

describe("bad input", () => {
  it("malformed, oversized and hostile requests answer the contract's error, never a 500", async () => {
    const p = await activeSession();
    const id = p.session.id;
    const t = p.customer.accessToken;
    const big = JSON.stringify({ minutes: 5, pad: "x".repeat(70 * 1024) });
    const cases: [string, string, string | undefined, number, string][] = [
      ["POST", "/api/client/sessions/not-a-uuid/payment", "{}", 404, "NOT_FOUND"],
      ["POST", "/api/client/sessions/'%20OR%201=1%20--/end", "{}", 404, "NOT_FOUND"],
      ["GET", "/api/client/sessions/%00", undefined, 404, "NOT_FOUND"],
      ["GET", `/api/client/sessions/${id.toUpperCase()}x`, undefined, 404, "NOT_FOUND"],
      ["POST", `/api/client/sessions/${id}/payment`, "{", 400, "VALIDATION_FAILED"],
      ["POST", `/api/client/sessions/${id}/payment`, '{"amount":100}', 400, "VALIDATION_FAILED"],
      ["POST", `/api/client/sessions/${id}/payment`, "[]", 400, "VALIDATION_FAILED"],
      ["POST", `/api/client/sessions/${id}/end`, '"end"', 400, "VALIDATION_FAILED"],
      ["POST", `/api/client/sessions/${id}/extend`, '{"minutes":5,"extra":1}', 400, "VALIDATION_FAILED"],
      ["POST", `/api/client/sessions/${id}/extend`, '{"minutes":1e400}', 400, "VALIDATION_FAILED"],
      ["POST", `/api/client/sessions/${id}/extend`, big, 413, "PAYLOAD_TOO_LARGE"],
      ["POST", `/api/client/sessions/${id}/payment`, big, 413, "PAYLOAD_TOO_LARGE"],
      ["GET", "/api/client/sessions?open=false", undefined, 400, "VALIDATION_FAILED"],
      ["GET", `/api/client/sessions/${id}/messages?limit=0`, undefined, 400, "VALIDATION_FAILED"],
      ["GET", `/api/client/sessions/${id}/messages?limit=201`, undefined, 400, "VALIDATION_FAILED"],
      ["GET", `/api/client/sessions/${id}/messages?limit=abc`, undefined, 400, "VALIDATION_FAILED"],
      ["GET", `/api/client/sessions/${id}/messages?after=nope`, undefined, 400, "VALIDATION_FAILED"],
      [
        "GET",
        `/api/client/sessions/${id}/messages?after=${encodeURIComponent("'; DROP TABLE chat_messages; --")}`,
        undefined,
        400,
        "VALIDATION_FAILED",
      ],
      [
        "GET",
        `/api/client/sessions/${id}/messages?after=${randomUUID()}`,
        undefined,
        400,
        "VALIDATION_FAILED",
      ],
      ["GET", `/api/client/sessions/${id}/end`, undefined, 405, "METHOD_NOT_ALLOWED"],
    ];
    for (const [method, path, body, status, code] of cases) {
      const r = await call(api(0, path), { method, token: t, ...(body === undefined ? {} : { raw: body }) });
      expect({ method, path: path.slice(0, 80), status: r.status, code: r.body?.error?.code }).toEqual({
        method,
        path: path.slice(0, 80),
        status,
        code,
      });
    }
    const badKey = await pay(p, 0, { "idempotency-key": "" });
    expect(badKey.status).toBe(400);
    expect((await row(id))?.status).toBe("active");
  });

  it("session.end frames with a bad id, wrong types or extra fields answer VALIDATION_FAILED and the socket stays open", async () => {
    const p = await activeSession();
    const ws = await socket(0, p.customer.accessToken);
    const frames: Record<string, unknown>[] = [
      { type: "session.end", sessionId: "not-a-uuid" },
      { type: "session.end", sessionId: "'; DROP TABLE chat_sessions; --" },
      { type: "session.end", sessionId: 42 },
      { type: "session.end" },
      { type: "session.end", sessionId: p.session.id, reason: "because" },
    ];
    for (const frame of frames) {
      const r = await ws.request(frame);
      expect({ frame, type: r.type, code: r.code }).toEqual({
        frame,
        type: "error",
        code: "VALIDATION_FAILED",
      });
    }
    expect(ws.closedNow).toBeUndefined();
    expect((await row(p.session.id))?.status).toBe("active");
  });
});
