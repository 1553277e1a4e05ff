import jwt from "jsonwebtoken";
import { afterAll, describe, expect, it } from "vitest";
import type { Ws } from "../../src/ws/socket-hub.js";
import { HARD_BACKPRESSURE, SOFT_BACKPRESSURE } from "../../src/ws/socket-hub.js";
import { anonymousCustomer, type Pair } from "../support/auth.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { metricValue } from "../support/metrics.js";
import { call } from "../support/people.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";
import { type Frame, WsClient, wsUrl } from "../support/ws-client.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const sockets: WsClient[] = [];
afterAll(async () => {
  await Promise.all(sockets.map((ws) => ws.close()));
});

/** A socket of a new anonymous customer, with hello and availability read. */
async function customerSocket(gw: TestGateway): Promise<{ pair: Pair; ws: WsClient; hello: Frame }> {
  const pair = await anonymousCustomer(gw.publicUrl);
  const ws = await WsClient.connect(wsUrl(gw.publicUrl, "/ws"), { token: pair.accessToken });
  sockets.push(ws);
  const hello = await ws.next("hello");
  await ws.next("availability");
  return { pair, ws, hello };
}

/** The gateway's own end of a user's socket, to read how much it holds for a slow reader. */
function serverSocketOf(gw: TestGateway, userId: string): Ws {
  const all = (gw.gateway.ws.hub as unknown as { sockets: Set<Ws> }).sockets;
  const ws = [...all].find((s) => s.getUserData().userId === userId);
  if (!ws) throw new Error(`no socket of ${userId} on the gateway`);
  return ws;
}

describe("frame size, frame rate and slow readers", () => {
  const ctx = useGateways({ env: QUIET_SWEEPS });
  const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

  it("a frame of 16 KiB is answered; one byte more closes the socket with 1009", async () => {
    const { ws } = await customerSocket(gw());
    const frameOf = (bytes: number): string => {
      const head = '{"type":"nope","id":"edge","pad":"';
      return `${head}${"x".repeat(bytes - head.length - 2)}"}`;
    };
    ws.send(frameOf(16 * 1024));
    expect(await ws.next("error")).toMatchObject({ id: "edge", code: "UNKNOWN_TYPE" });
    ws.send(frameOf(16 * 1024 + 1));
    expect((await ws.closed).code).toBe(1009);

    // Far beyond: the transport may cut the connection without a close frame (contract §4).
    const { ws: huge } = await customerSocket(gw());
    huge.send(frameOf(200 * 1024));
    expect([1006, 1009]).toContain((await huge.closed).code);
  });

  it("300 frames at once: the burst is served, the rest refused with one RATE_LIMITED, and the socket stays open", async () => {
    const { pair, ws } = await customerSocket(gw());
    const started = Date.now();
    for (let i = 0; i < 300; i++) ws.send({ type: "nope", id: i });
    await sleep(500);
    const ended = Date.now();
    const errors = ws.frames.filter((f) => f.type === "error");
    const served = errors.filter((f) => f.code === "UNKNOWN_TYPE");
    const limited = errors.filter((f) => f.code === "RATE_LIMITED");
    // Burst 100, plus what 50/s refills while the 300 arrive.
    expect(served.length).toBeGreaterThanOrEqual(100);
    expect(served.length).toBeLessThan(130);
    // At most one RATE_LIMITED a second (the burst may straddle a second boundary).
    expect(limited.length).toBeGreaterThanOrEqual(1);
    expect(limited.length).toBeLessThanOrEqual(Math.floor(ended / 1000) - Math.floor(started / 1000) + 1);
    for (const f of limited) {
      expect(f).toEqual({
        type: "error",
        code: "RATE_LIMITED",
        message: expect.any(String),
        retryAfterSeconds: 1,
      });
    }
    // Tokens come back at 50/s: after a pause the same socket is served again.
    await sleep(1000);
    expect(ws.closedNow).toBeUndefined();
    const ack = await ws.request({ type: "auth.refresh", accessToken: pair.accessToken });
    expect(ack.type).toBe("ack");
  });

  it("a client that keeps flooding is closed with 4008 after five seconds of refused frames", async () => {
    const { ws } = await customerSocket(gw());
    const started = Date.now();
    let firstRefusal = 0;
    const limitedAt: number[] = [];
    const watcher = setInterval(() => {
      for (const f of ws.frames.splice(0)) {
        if (f.code !== "RATE_LIMITED") continue;
        limitedAt.push(Date.now());
        firstRefusal ||= Date.now();
      }
    }, 10);
    try {
      // ~1200 frames a second, far above 50/s, for at most 8 s.
      let n = 0;
      while (!ws.closedNow && Date.now() - started < 8000) {
        for (let i = 0; i < 60; i++) ws.send({ type: "nope", id: n++ });
        await sleep(50);
      }
    } finally {
      clearInterval(watcher);
    }
    const closedAt = Date.now();
    expect((await ws.closed).code).toBe(4008);
    // Refused in five consecutive seconds: the first and the fifth may be barely more than 3 s apart.
    expect(closedAt - firstRefusal).toBeGreaterThan(3000);
    expect(closedAt - firstRefusal).toBeLessThan(6500);
    // One RATE_LIMITED error per second at most, and the client was told every second.
    const seconds = Math.floor(closedAt / 1000) - Math.floor(started / 1000) + 1;
    expect(limitedAt.length).toBeLessThanOrEqual(seconds);
    expect(limitedAt.length).toBeGreaterThanOrEqual(3);
  });

  it("a reader that stops reading is closed with 4009 once more than 1 MiB waits for it, and misses no frame before that", async () => {
    const { pair, ws } = await customerSocket(gw());
    const server = serverSocketOf(gw(), pair.user.id);
    const closedBefore = await metricValue(gw().internalUrl, "halo_ws_backpressure_total", 'action="closed"');
    ws.pause();
    const blob = "x".repeat(60_000);
    let maxBuffered = 0;
    let sent = 0;
    const started = Date.now();
    // The kernel's socket buffers take a few MB first; then the gateway's own buffer fills.
    while (!server.getUserData().closed && Date.now() - started < 10_000 && sent < 2000) {
      await gw().gateway.ws.fanout.send(
        { kind: "user", userType: "customer", userId: pair.user.id },
        { type: "test.blob", seq: sent++, data: blob },
      );
      if (!server.getUserData().closed) maxBuffered = Math.max(maxBuffered, server.getBufferedAmount());
    }
    expect(server.getUserData().closed).toBe(true);
    expect(maxBuffered).toBeGreaterThan(SOFT_BACKPRESSURE);
    expect(maxBuffered).toBeLessThanOrEqual(HARD_BACKPRESSURE + 64 * 1024);
    expect(await metricValue(gw().internalUrl, "halo_ws_backpressure_total", 'action="closed"')).toBe(
      closedBefore + 1,
    );

    ws.resume();
    expect(await ws.closed).toEqual({ code: 4009, reason: "slow reader" });
    // Everything queued before the close arrives, in order, with no gap.
    const seqs = ws.frames.filter((f) => f.type === "test.blob").map((f) => f.seq as number);
    expect(seqs.length).toBeGreaterThan(0);
    expect(seqs).toEqual(seqs.map((_, i) => i));
  });

  it("availability frames wait behind a slow reader as one latest frame, not a queue, and the gateway's memory stays flat", async () => {
    const { pair, ws } = await customerSocket(gw());
    const hub = gw().gateway.ws.hub;
    const server = serverSocketOf(gw(), pair.user.id);
    // The periodic push sends only on change, and nothing changes here: let its first tick pass.
    await sleep(1100);
    ws.pause();
    const blob = "x".repeat(60_000);
    let blobs = 0;
    while (server.getBufferedAmount() <= SOFT_BACKPRESSURE && blobs < 500) {
      await gw().gateway.ws.fanout.send(
        { kind: "user", userType: "customer", userId: pair.user.id },
        { type: "test.blob", seq: blobs++, data: blob },
      );
    }
    // A send resolves when Valkey took it; its delivery to this process's subscriber comes just after.
    await sleep(200);
    const buffered = server.getBufferedAmount();
    expect(buffered).toBeGreaterThan(SOFT_BACKPRESSURE);

    // 2,000 availability frames of ~50 KB (100 MB offered) while the reader is stuck.
    const pad = "p".repeat(50_000);
    const asOf = new Date().toISOString();
    const frames = Array.from({ length: 10 }, (_, i) =>
      JSON.stringify({ type: "availability", available: 1000 + i, asOf, pad }),
    );
    const replacedBefore = await metricValue(
      gw().internalUrl,
      "halo_ws_backpressure_total",
      'action="replaced"',
    );
    const rssBefore = process.memoryUsage().rss;
    let last = "";
    for (let i = 0; i < 2000; i++) {
      last = frames[i % frames.length] as string;
      hub.sendLatest(server, "availability", last);
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    const rssGrowth = process.memoryUsage().rss - rssBefore;
    expect(server.getBufferedAmount()).toBe(buffered);
    expect(rssGrowth).toBeLessThan(32 * 1024 * 1024);
    expect(await metricValue(gw().internalUrl, "halo_ws_backpressure_total", 'action="replaced"')).toBe(
      replacedBefore + 1999,
    );

    // Once the reader catches up it gets the blobs, then only the newest of the 2,000.
    ws.resume();
    const offered = (f: Frame): boolean => f.type === "availability" && f.available >= 1000;
    await waitFor(() => ws.frames.some(offered), 5000);
    await sleep(300);
    expect(ws.frames.filter((f) => f.type === "test.blob")).toHaveLength(blobs);
    const delivered = ws.frames.filter(offered);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.available).toBe(JSON.parse(last).available);
    expect(ws.closedNow).toBeUndefined();
  });

  it("/metrics counts the refused frames", async () => {
    expect(await metricValue(gw().internalUrl, "halo_ws_rate_limited_total")).toBeGreaterThan(200);
  });
});

describe("access token expiry on an open socket", () => {
  const ctx = useGateways({ env: { ...QUIET_SWEEPS, ACCESS_TOKEN_TTL_SECONDS: "4" } });
  const gw = (): TestGateway => ctx.gateways[0] as TestGateway;
  const expOf = (token: string): number => (jwt.decode(token) as { exp: number }).exp;

  it("without a refresh the socket gets token.expired, then closes with 4001 at expiry", async () => {
    const { pair, ws, hello } = await customerSocket(gw());
    const exp = expOf(pair.accessToken);
    expect(hello.accessExpiresAt).toBe(new Date(exp * 1000).toISOString());
    const closed = await ws.closed;
    const closedAt = Date.now();
    expect(closed.code).toBe(4001);
    expect(ws.frames.at(-1)).toEqual({ type: "token.expired" });
    expect(closedAt).toBeGreaterThanOrEqual(exp * 1000);
    expect(closedAt).toBeLessThan(exp * 1000 + 1500);
  }, 15_000);

  it("a socket that swaps in a fresh token before expiry outlives its first token", async () => {
    const { pair, ws } = await customerSocket(gw());
    const { iat, exp: firstExp } = jwt.decode(pair.accessToken) as { iat: number; exp: number };
    // Two seconds into a four-second token: the fresh one ends at least two seconds later.
    await sleep(Math.max(0, (iat + 2) * 1000 - Date.now()));
    const refreshed = await call(`${gw().publicUrl}/api/shared/auth/refresh`, {
      body: { refreshToken: pair.refreshToken },
    });
    expect(refreshed.status).toBe(200);
    const fresh = refreshed.body.accessToken as string;
    const ack = await ws.request({ type: "auth.refresh", accessToken: fresh });
    expect(ack.accessExpiresAt).toBe(new Date(expOf(fresh) * 1000).toISOString());
    expect(expOf(fresh)).toBeGreaterThanOrEqual(firstExp + 2);

    // Past the first token's expiry and the housekeeping tick after it: still open, still served.
    await sleep(firstExp * 1000 + 1200 - Date.now());
    expect(ws.closedNow).toBeUndefined();
    expect((await ws.request({ type: "auth.refresh", accessToken: fresh })).type).toBe("ack");
    expect(ws.frames.some((f) => f.type === "token.expired")).toBe(false);

    // The fresh token's own expiry still ends it.
    expect((await ws.closed).code).toBe(4001);
  }, 15_000);
});
