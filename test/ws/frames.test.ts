import jwt from "jsonwebtoken";
import { afterAll, describe, expect, it } from "vitest";
import { anonymousCustomer, type Pair } from "../support/auth.js";
import { TEST_JWT_SECRET, type TestGateway, waitFor } from "../support/gateway.js";
import { metricValue } from "../support/metrics.js";
import { mitraToken, seedMitra } from "../support/mitras.js";
import { ADMIN_ENV, call, mitraState, operatorToken } from "../support/people.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { type Frame, refusedUpgrade, WsClient, wsUrl } from "../support/ws-client.js";

/** Real time, unless a test pins it (to compare what two doors write at one instant) or shifts it. */
const clock = {
  pinned: undefined as Date | undefined,
  shiftMs: 0,
  now: (): Date => clock.pinned ?? new Date(Date.now() + clock.shiftMs),
};

const ctx = useGateways({
  env: { ...QUIET_SWEEPS, ...ADMIN_ENV, HEARTBEAT_STALE_SECONDS: "60" },
  now: clock.now,
});
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;
const publicWs = (): string => wsUrl(gw().publicUrl, "/ws");
const internalWs = (): string => wsUrl(gw().internalUrl, "/internal/ws");

/** The claims of one of our access tokens (signature not checked: the test minted or received it). */
const claimsOf = (token: string) => jwt.decode(token) as { sub: string; sid: string; exp: number };

/** Sockets the gateway holds right now (the upgrade refusals must not leave one behind). */
const openSockets = (): number => gw().gateway.ws.hub.size;

const sockets: WsClient[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((ws) => ws.close()));
});

/** A socket of a new anonymous customer, with its hello and availability already read. */
async function customerSocket(): Promise<{ pair: Pair; ws: WsClient }> {
  const pair = await anonymousCustomer(gw().publicUrl);
  const ws = await WsClient.connect(publicWs(), { token: pair.accessToken });
  sockets.push(ws);
  await ws.next("hello");
  await ws.next("availability");
  return { pair, ws };
}

/** A socket of a seeded mitra (hello read), and its token. */
async function mitraSocket(): Promise<{ id: string; token: string; ws: WsClient }> {
  const id = await seedMitra(gw().pool);
  const token = await mitraToken(gw(), id);
  const ws = await WsClient.connect(publicWs(), { token });
  sockets.push(ws);
  await ws.next("hello");
  return { id, token, ws };
}

/** The socket still answers: a customer's own token swapped in again is acknowledged. */
async function stillWorks(ws: WsClient, token: string): Promise<void> {
  const ack = await ws.request({ type: "auth.refresh", accessToken: token });
  expect(ack.type).toBe("ack");
  expect(ws.closedNow).toBeUndefined();
}

function expectErrorWithoutId(f: Frame, code: string): void {
  expect(f.type).toBe("error");
  expect(f.code).toBe(code);
  expect(typeof f.message).toBe("string");
  expect("id" in f).toBe(false);
}

const metric = (name: string, labels = ""): Promise<number> => metricValue(gw().internalUrl, name, labels);

describe("the upgrade", () => {
  it("is refused with HTTP 401 and no socket for a missing, malformed, forged or expired token", async () => {
    const { pair } = await customerSocket();
    const { sub, sid } = claimsOf(pair.accessToken);
    const nowSec = Math.floor(Date.now() / 1000);
    const before = openSockets();
    const cases: [string, string | undefined, string][] = [
      ["missing", undefined, "UNAUTHENTICATED"],
      ["malformed", "not-a-jwt", "UNAUTHENTICATED"],
      [
        "signed with another key",
        jwt.sign({ sub, typ: "customer", sid }, "another-secret-another-secret-0123456", { expiresIn: 600 }),
        "UNAUTHENTICATED",
      ],
      [
        "unsigned (alg none)",
        jwt.sign({ sub, typ: "customer", sid }, "", { algorithm: "none" }),
        "UNAUTHENTICATED",
      ],
      [
        "expired",
        jwt.sign({ sub, typ: "customer", sid, iat: nowSec - 120, exp: nowSec - 60 }, TEST_JWT_SECRET, {
          algorithm: "HS256",
        }),
        "TOKEN_EXPIRED",
      ],
    ];
    for (const [what, token, code] of cases) {
      for (const via of ["header", "query"] as const) {
        const refused = await refusedUpgrade(publicWs(), { ...(token ? { token } : {}), via });
        expect({ what, via, status: refused.status, code: refused.body?.error?.code }).toEqual({
          what,
          via,
          status: 401,
          code,
        });
      }
    }
    expect(openSockets()).toBe(before);
  });

  it("is refused with 401 SESSION_REVOKED after the customer logged out", async () => {
    const pair = await anonymousCustomer(gw().publicUrl);
    const out = await call(`${gw().publicUrl}/api/shared/auth/logout`, { token: pair.accessToken, body: {} });
    expect(out.status).toBe(204);
    const before = openSockets();
    const refused = await refusedUpgrade(publicWs(), { token: pair.accessToken });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("SESSION_REVOKED");
    expect(openSockets()).toBe(before);
  });

  it("accepts the token as a Bearer header or as ?access_token=", async () => {
    const pair = await anonymousCustomer(gw().publicUrl);
    for (const via of ["header", "query"] as const) {
      const ws = await WsClient.connect(publicWs(), { token: pair.accessToken, via });
      const hello = await ws.next("hello");
      expect(hello.userId).toBe(pair.user.id);
      await ws.close();
    }
  });

  it("refuses a customer token on /internal/ws and an operator token on /ws", async () => {
    const pair = await anonymousCustomer(gw().publicUrl);
    const op = await operatorToken(gw());
    const before = openSockets();
    const customerInside = await refusedUpgrade(internalWs(), { token: pair.accessToken });
    const operatorOutside = await refusedUpgrade(publicWs(), { token: op });
    for (const r of [customerInside, operatorOutside]) {
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe("FORBIDDEN");
    }
    expect(openSockets()).toBe(before);
  });
});

describe("on open", () => {
  it("a customer gets hello with exactly its identity and timings, then the current availability", async () => {
    const pair = await anonymousCustomer(gw().publicUrl);
    const { sid, exp } = claimsOf(pair.accessToken);
    const ws = await WsClient.connect(publicWs(), { token: pair.accessToken });
    sockets.push(ws);
    const hello = await ws.next("hello");
    expect(hello).toEqual({
      type: "hello",
      userId: pair.user.id,
      userType: "customer",
      authSessionId: sid,
      heartbeatIntervalSeconds: 20, // HEARTBEAT_STALE_SECONDS 60 / 3
      accessExpiresAt: new Date(exp * 1000).toISOString(),
    });
    const availability = await ws.next("availability");
    expect(ws.frames.map((f) => f.type).slice(0, 2)).toEqual(["hello", "availability"]);
    expect(Object.keys(availability).sort()).toEqual(["asOf", "available", "type"]);
    expect(Number.isInteger(availability.available)).toBe(true);
    expect(availability.asOf).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it("an operator gets hello, then the current dashboard counts", async () => {
    const token = await operatorToken(gw());
    const ws = await WsClient.connect(internalWs(), { token });
    sockets.push(ws);
    const hello = await ws.next("hello");
    expect(hello.userType).toBe("cc");
    expect(Object.keys(hello).sort()).toEqual(
      ["accessExpiresAt", "authSessionId", "heartbeatIntervalSeconds", "type", "userId", "userType"].sort(),
    );
    const counts = await ws.next("dashboard.counts");
    expect(ws.frames.map((f) => f.type).slice(0, 2)).toEqual(["hello", "dashboard.counts"]);
    const { type, ...figures } = counts;
    expect(Object.keys(figures).sort()).toEqual(
      ["activeSessions", "available", "deactivated", "online", "pendingSessions"].sort(),
    );
    for (const v of Object.values(figures)) expect(Number.isInteger(v)).toBe(true);
  });

  it("a mitra gets hello and nothing else unasked", async () => {
    const { id, ws } = await mitraSocket();
    await new Promise((r) => setTimeout(r, 300));
    expect(ws.frames.map((f) => f.type)).toEqual(["hello"]);
    expect(ws.frames[0]?.userId).toBe(id);
  });
});

describe("error frames", () => {
  it("invalid JSON, a binary frame and JSON that is not an object are BAD_FRAME without id, and the socket stays open", async () => {
    const { pair, ws } = await customerSocket();
    for (const bad of ['{"type":"auth.refresh","id":"x"', "", "[1,2]", '"text"', "null", "42"]) {
      ws.send(bad);
      expectErrorWithoutId(await ws.next("error"), "BAD_FRAME");
    }
    ws.send(Buffer.from(JSON.stringify({ type: "auth.refresh", id: "b", accessToken: pair.accessToken })));
    expectErrorWithoutId(await ws.next("error"), "BAD_FRAME");
    await stillWorks(ws, pair.accessToken);
  });

  it("an unknown type is UNKNOWN_TYPE with the id echoed exactly, strings and numbers alike", async () => {
    const { pair, ws } = await customerSocket();
    for (const id of ["abc-1", "", "ümlaut ✓", 42, 0, -1.5, 1e21, Number.MAX_SAFE_INTEGER]) {
      const f = await ws.request({ type: "pairing.teleport", id });
      expect(f).toEqual({ type: "error", id, code: "UNKNOWN_TYPE", message: expect.any(String) });
    }
    await stillWorks(ws, pair.accessToken);
  });

  it("a frame failing its schema is VALIDATION_FAILED with issues at the top level of the frame", async () => {
    const { ws, token } = await mitraSocket();
    const f = await ws.request({ type: "status.set", id: "v1", online: "yes" });
    expect(f).toEqual({
      type: "error",
      id: "v1",
      code: "VALIDATION_FAILED",
      message: expect.any(String),
      issues: [{ path: "online", message: expect.any(String) }],
    });
    const missing = await ws.request({ type: "auth.refresh", id: 7 });
    expect(missing.code).toBe("VALIDATION_FAILED");
    expect(missing.issues).toEqual([{ path: "accessToken", message: expect.any(String) }]);
    const extra = await ws.request({ type: "heartbeat", id: "x", online: true });
    expect(extra.code).toBe("VALIDATION_FAILED");
    // The heartbeat's hand-checked path accepts exactly what its schema does.
    ws.send(`{"type":"heartbeat","id":"${"i".repeat(129)}"}`);
    expect((await ws.next("error")).code).toBe("VALIDATION_FAILED");
    ws.send('{"type":"heartbeat","id":null}');
    expect((await ws.next("error")).code).toBe("VALIDATION_FAILED");
    ws.send('{"type":"heartbeat","__proto__":{"id":1}}');
    expect((await ws.next("error")).code).toBe("VALIDATION_FAILED");
    expect(await ws.request({ type: "heartbeat", id: "i".repeat(128) })).toEqual({
      type: "ack",
      id: "i".repeat(128),
    });
    const untyped = await ws.request({ id: "t", type: 5 });
    expect(untyped.code).toBe("VALIDATION_FAILED");
    expect(untyped.issues[0].path).toBe("type");
    expect((await ws.request({ type: "heartbeat" })).type).toBe("ack");
    expect((await ws.request({ type: "auth.refresh", accessToken: token })).type).toBe("ack");
  });

  it("a customer's heartbeat is FORBIDDEN and the socket stays open", async () => {
    const { pair, ws } = await customerSocket();
    const f = await ws.request({ type: "heartbeat", id: "hb" });
    expect(f).toEqual({ type: "error", id: "hb", code: "FORBIDDEN", message: expect.any(String) });
    const s = await ws.request({ type: "status.set", id: 9, online: true });
    expect(s.code).toBe("FORBIDDEN");
    await stillWorks(ws, pair.accessToken);
  });

  it("hostile frames get an error, never a crash, and the socket keeps working", async () => {
    const { pair, ws } = await customerSocket();
    const depth = 5000;
    // Deep nesting inside a known frame, as the whole frame, and as nested objects without a type.
    ws.send(`{"type":"auth.refresh","id":"deep","accessToken":${"[".repeat(depth)}${"]".repeat(depth)}}`);
    expect((await ws.next("error")).code).toBe("VALIDATION_FAILED");
    ws.send(`${"[".repeat(depth)}${"]".repeat(depth)}`);
    expectErrorWithoutId(await ws.next("error"), "BAD_FRAME");
    ws.send(`${'{"a":'.repeat(2500)}1${"}".repeat(2500)}`);
    expectErrorWithoutId(await ws.next("error"), "VALIDATION_FAILED");

    // A 15 KiB string: in a field, as the type, as the id. The answer does not echo it back.
    const big = "x".repeat(15 * 1024);
    const inField = await ws.request({ type: "auth.refresh", id: "big", accessToken: big });
    expect(inField.code).toBe("VALIDATION_FAILED");
    const asType = await ws.request({ type: big, id: "long-type" });
    expect(asType.code).toBe("UNKNOWN_TYPE");
    ws.send({ type: "auth.refresh", id: big, accessToken: pair.accessToken });
    expectErrorWithoutId(await ws.next("error"), "VALIDATION_FAILED");
    for (const f of ws.frames.filter((x) => x.type === "error"))
      expect(JSON.stringify(f).length).toBeLessThan(1024);

    // Prototype keys: as types, as fields, as the whole frame.
    for (const type of ["__proto__", "constructor", "toString", "hasOwnProperty", "prototype"]) {
      const f = await ws.request({ type, id: `proto-${type}` });
      expect(f.code).toBe("UNKNOWN_TYPE");
    }
    // (Raw text: a `__proto__` key in an object literal would set the prototype, not a field.)
    ws.send(`{"type":"auth.refresh","id":"p1","accessToken":"a","__proto__":{"type":"heartbeat"}}`);
    expect(await ws.next("error")).toMatchObject({ id: "p1", code: "VALIDATION_FAILED" });
    ws.send(`{"__proto__":{"type":"auth.refresh"},"id":"p2"}`);
    expect(await ws.next("error")).toMatchObject({ id: "p2", code: "VALIDATION_FAILED" });
    ws.send(`{"constructor":{"prototype":{"polluted":true}},"type":"nope","id":"p3"}`);
    expect(await ws.next("error")).toMatchObject({ id: "p3", code: "UNKNOWN_TYPE" });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).type).toBeUndefined();

    // Ids that cannot be echoed: too big for a double, or of the wrong type → an error without id.
    for (const id of ["1e400", "-1e400", '{"a":1}', "[1]", "true", "null"]) {
      ws.send(`{"type":"nope","id":${id}}`);
      expectErrorWithoutId(await ws.next("error"), "UNKNOWN_TYPE");
    }
    // A huge but finite number is echoed as the same number a JSON client reads.
    const huge = "123456789012345678901234567890";
    ws.send(`{"type":"nope","id":${huge}}`);
    expect((await ws.next("error")).id).toBe(JSON.parse(huge));

    await stillWorks(ws, pair.accessToken);
  });
});

describe("mitra frames", () => {
  it("a heartbeat frame is acknowledged and writes Valkey exactly as the HTTP heartbeat does", async () => {
    const { id, token, ws } = await mitraSocket();
    const k = gw().gateway.services.keys;
    const valkey = gw().valkey;
    if (!valkey) throw new Error("needs Valkey");
    try {
      // Two instants near now (tokens stay valid), with milliseconds that show the format.
      const first = new Date(Math.floor(Date.now() / 1000) * 1000 + 123);
      const second = new Date(first.getTime() + 30_333);
      clock.pinned = first;
      const http = await call(`${gw().publicUrl}/api/mitra/status/heartbeat`, { token, body: {} });
      expect(http.status).toBe(204);
      // Answered from memory, written behind (src/mirror/heartbeat.ts): write the window now.
      await gw().gateway.services.avail.heartbeats.flushBehind();
      const viaHttp = {
        value: await valkey.get(k.mitraHeartbeat(id)),
        ttl: await valkey.ttl(k.mitraHeartbeat(id)),
      };
      expect(viaHttp.value).toBe(first.toISOString());

      clock.pinned = second;
      const ack = await ws.request({ type: "heartbeat", id: "hb-1" });
      expect(ack).toEqual({ type: "ack", id: "hb-1" });
      await gw().gateway.services.avail.heartbeats.flushBehind();
      const viaWs = {
        value: await valkey.get(k.mitraHeartbeat(id)),
        ttl: await valkey.ttl(k.mitraHeartbeat(id)),
      };
      expect(viaWs).toEqual({ value: second.toISOString(), ttl: viaHttp.ttl });
    } finally {
      clock.pinned = undefined;
    }
    // Neither door wrote Postgres, and neither set the mitra online.
    const state = await mitraState(gw(), id);
    expect(state.postgres.heartbeatAt).toBeNull();
    expect(state.postgres.online).toBe(false);
    expect(state.valkey.online).toBe(false);
  });

  it("status.set goes online and offline in Postgres and Valkey, as the HTTP routes do", async () => {
    const { id, ws } = await mitraSocket();
    const on = await ws.request({ type: "status.set", id: "on", online: true });
    expect(on).toEqual({ type: "ack", id: "on", online: true });
    let state = await mitraState(gw(), id);
    expect(state.postgres.online).toBe(true);
    expect(state.valkey.online).toBe(true);
    expect(state.valkey.heartbeat).not.toBeNull(); // going online records a heartbeat

    const off = await ws.request({ type: "status.set", id: 2, online: false });
    expect(off).toEqual({ type: "ack", id: 2, online: false });
    state = await mitraState(gw(), id);
    expect(state.postgres.online).toBe(false);
    expect(state.valkey.online).toBe(false);
  });
});

describe("auth.refresh", () => {
  it("swaps in a fresh token of the same user and answers the later expiry", async () => {
    const { pair, ws } = await customerSocket();
    const before = ws.frames[0]?.accessExpiresAt as string;
    let fresh: string;
    try {
      clock.shiftMs = 5000; // a refresh a few seconds later, without sleeping
      const refreshed = await call(`${gw().publicUrl}/api/shared/auth/refresh`, {
        body: { refreshToken: pair.refreshToken },
      });
      expect(refreshed.status).toBe(200);
      fresh = refreshed.body.accessToken;
      const ack = await ws.request({ type: "auth.refresh", id: "r", accessToken: fresh });
      expect(ack).toEqual({ type: "ack", id: "r", accessExpiresAt: expect.any(String) });
      expect(ack.accessExpiresAt).toBe(new Date(claimsOf(fresh).exp * 1000).toISOString());
      expect(Date.parse(ack.accessExpiresAt)).toBeGreaterThan(Date.parse(before));
    } finally {
      clock.shiftMs = 0;
    }
  });

  it("refuses another user's token with FORBIDDEN, and the socket keeps its own identity", async () => {
    const a = await mitraSocket();
    const bId = await seedMitra(gw().pool);
    const bToken = await mitraToken(gw(), bId);
    const customer = await anonymousCustomer(gw().publicUrl);

    const other = await a.ws.request({ type: "auth.refresh", id: "steal", accessToken: bToken });
    expect(other).toEqual({ type: "error", id: "steal", code: "FORBIDDEN", message: expect.any(String) });
    const otherType = await a.ws.request({ type: "auth.refresh", accessToken: customer.accessToken });
    expect(otherType.code).toBe("FORBIDDEN");
    const garbage = await a.ws.request({ type: "auth.refresh", accessToken: "garbage" });
    expect(garbage.code).toBe("UNAUTHENTICATED");

    // Its heartbeat still counts for A, not for B.
    expect((await a.ws.request({ type: "heartbeat" })).type).toBe("ack");
    await gw().gateway.services.avail.heartbeats.flushBehind();
    const k = gw().gateway.services.keys;
    expect(await gw().valkey?.get(k.mitraHeartbeat(a.id))).not.toBeNull();
    expect(await gw().valkey?.get(k.mitraHeartbeat(bId))).toBeNull();

    // And A's revocation still reaches this socket: it speaks for A's session.
    const out = await call(`${gw().publicUrl}/api/shared/auth/logout`, { token: a.token, body: {} });
    expect(out.status).toBe(204);
    expect((await a.ws.closed).code).toBe(4003);
  });
});

describe("/metrics", () => {
  it("shows sockets by user type and client frames by type", async () => {
    const before = {
      customer: await metric("halo_ws_sockets", 'user_type="customer"'),
      mitra: await metric("halo_ws_sockets", 'user_type="mitra"'),
      heartbeats: await metric("halo_ws_frames_in_total", 'type="heartbeat"'),
      bad: await metric("halo_ws_frames_in_total", 'type="bad"'),
      unknown: await metric("halo_ws_frames_in_total", 'type="unknown"'),
    };
    expect(before.customer).toBe(gw().gateway.ws.hub.countOf("customer"));
    const c1 = await customerSocket();
    const c2 = await customerSocket();
    const m = await mitraSocket();
    await m.ws.request({ type: "heartbeat" });
    m.ws.send("{nope");
    await m.ws.next("error");
    // Types nobody knows count as one label value, whatever a client invents.
    for (const type of ["made.up", "x".repeat(40), "__proto__"]) {
      const r = await m.ws.request({ type });
      expect(r).toMatchObject({ type: "error", code: "UNKNOWN_TYPE" });
    }
    expect(await metric("halo_ws_sockets", 'user_type="customer"')).toBe(before.customer + 2);
    expect(await metric("halo_ws_sockets", 'user_type="mitra"')).toBe(before.mitra + 1);
    expect(await metric("halo_ws_frames_in_total", 'type="heartbeat"')).toBe(before.heartbeats + 1);
    expect(await metric("halo_ws_frames_in_total", 'type="bad"')).toBe(before.bad + 1);
    expect(await metric("halo_ws_frames_in_total", 'type="unknown"')).toBe(before.unknown + 3);
    const text = await (await fetch(`${gw().internalUrl}/metrics`)).text();
    expect(text).not.toMatch(/halo_ws_frames_in_total\{type="(made\.up|x{40}|__proto__)"\}/);

    await c1.ws.close();
    await c2.ws.close();
    await waitFor(
      async () => (await metric("halo_ws_sockets", 'user_type="customer"')) === before.customer,
      2000,
    );
  });
});
