import { describe, expect, it } from "vitest";
import WebSocket from "ws";
import { anonymousCustomer, authHeader, post } from "../support/auth.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { mitraToken, seedMitra } from "../support/mitras.js";
import { ADMIN_ENV, operatorToken } from "../support/people.js";
import { QUIET_SWEEPS, useGateways } from "../support/setup.js";

const ctx = useGateways({ count: 3, ownValkey: true, env: { ...QUIET_SWEEPS, ...ADMIN_ENV } });
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;

interface Client {
  frames: Record<string, unknown>[];
  closed: Promise<{ code: number; at: number }>;
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  send(frame: unknown): void;
  ws: WebSocket;
}

/** A socket of `token` on gateway `g` (public /ws, or /internal/ws for operators), open and greeted. */
async function connect(g: TestGateway, token: string, path = "/ws"): Promise<Client> {
  const base = (path === "/ws" ? g.publicUrl : g.internalUrl).replace("http", "ws");
  const ws = new WebSocket(`${base}${path}`, { headers: authHeader(token) });
  const frames: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  ws.on("message", (m) => {
    frames.push(JSON.parse(m.toString()));
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; at: number }>((resolve) =>
    ws.on("close", (code) => resolve({ code, at: Date.now() })),
  );
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
  });
  const client: Client = {
    ws,
    frames,
    closed,
    send: (f) => ws.send(JSON.stringify(f)),
    next: (type, timeoutMs = 3000) =>
      new Promise((resolve, reject) => {
        let seen = 0;
        const t = setTimeout(() => reject(new Error(`no ${type} frame within ${timeoutMs} ms`)), timeoutMs);
        const check = () => {
          for (; seen < frames.length; seen++) {
            const f = frames[seen] as Record<string, unknown>;
            if (f.type === type) {
              clearTimeout(t);
              frames.splice(0, seen + 1);
              return resolve(f);
            }
          }
          waiters.push(check);
        };
        check();
      }),
  };
  await client.next("hello");
  return client;
}

describe("revocation reaches every process's sockets", () => {
  it("a logout on one process closes that session's sockets on the others with revoked then 4003 within 1 s", async () => {
    const c = await anonymousCustomer(gw(0).publicUrl);
    const [onB, onC] = await Promise.all([connect(gw(1), c.accessToken), connect(gw(2), c.accessToken)]);
    const other = await anonymousCustomer(gw(0).publicUrl);
    const bystander = await connect(gw(1), other.accessToken);

    const r = await post(gw(0).publicUrl, "/api/shared/auth/logout", undefined, authHeader(c.accessToken));
    const answeredAt = Date.now();
    expect(r.status).toBe(204);
    for (const client of [onB, onC]) {
      expect((await client.next("revoked", 1500)).type).toBe("revoked");
      const { code, at } = await client.closed;
      expect(code).toBe(4003);
      expect(at - answeredAt).toBeLessThan(1000);
    }
    // Other users' sockets are untouched.
    bystander.send({ type: "auth.refresh", id: "still-here", accessToken: other.accessToken });
    expect((await bystander.next("ack")).id).toBe("still-here");
    bystander.ws.close();
  });

  it("deactivating a mitra closes its socket on another process within 1 s", async () => {
    const mitra = await seedMitra(gw(0).pool);
    const sock = await connect(gw(2), await mitraToken(gw(0), mitra));
    const admin = await operatorToken(gw(0));
    const res = await fetch(`${gw(0).internalUrl}/internal/mitras/${mitra}`, {
      method: "PATCH",
      headers: { ...authHeader(admin), "content-type": "application/json" },
      body: JSON.stringify({ isActive: false }),
    });
    const answeredAt = Date.now();
    expect(res.status).toBe(200);
    const { code, at } = await sock.closed;
    expect(code).toBe(4003);
    expect(at - answeredAt).toBeLessThan(1000);
  });

  it("while Valkey is down, a logout still closes the session's sockets on another process within 1 s", async () => {
    const c = await anonymousCustomer(gw(0).publicUrl);
    const sock = await connect(gw(1), c.accessToken);
    await ctx.valkey?.stop();
    await waitFor(() => ctx.gateways.every((g) => g.health?.state === "down"), 3000);
    try {
      const r = await post(gw(0).publicUrl, "/api/shared/auth/logout", undefined, authHeader(c.accessToken));
      const answeredAt = Date.now();
      expect(r.status).toBe(204);
      const { code, at } = await sock.closed;
      expect(code).toBe(4003);
      expect(at - answeredAt).toBeLessThan(1000);
    } finally {
      await ctx.valkey?.startAgain();
      await waitFor(() => ctx.gateways.every((g) => g.health?.state === "up"), 5000);
      await fanoutWorksAgain();
    }
  });
});

/**
 * Pub/sub is at-most-once: until each process's subscriber has reconnected
 * and subscribed again, a published event reaches nobody. Wait for that, so
 * the next test does not publish into the gap.
 */
async function fanoutWorksAgain(): Promise<void> {
  const c = await anonymousCustomer(gw(0).publicUrl);
  const socks = await Promise.all([connect(gw(1), c.accessToken), connect(gw(2), c.accessToken)]);
  await waitFor(
    async () => {
      await gw(0).gateway.ws.fanout.send(
        { kind: "user", userType: "customer", userId: c.user.id },
        { type: "probe" },
      );
      await new Promise((r) => setTimeout(r, 50));
      return socks.every((s) => s.frames.some((f) => f.type === "probe"));
    },
    5000,
    100,
  );
  for (const s of socks) s.ws.close();
}

describe("fan-out across processes", () => {
  it("an event for a user published on one process reaches the user's sockets on the others", async () => {
    const c = await anonymousCustomer(gw(0).publicUrl);
    const [onB, onC] = await Promise.all([connect(gw(1), c.accessToken), connect(gw(2), c.accessToken)]);
    await gw(0).gateway.ws.fanout.send(
      { kind: "user", userType: "customer", userId: c.user.id },
      { type: "test.ping", n: 1 },
    );
    expect(await onB.next("test.ping")).toEqual({ type: "test.ping", n: 1 });
    expect(await onC.next("test.ping")).toEqual({ type: "test.ping", n: 1 });
    onB.ws.close();
    onC.ws.close();
  });

  it("sockets survive a Valkey restart, and fan-out resumes after it", async () => {
    const mitra = await seedMitra(gw(0).pool);
    const token = await mitraToken(gw(0), mitra);
    const c = await anonymousCustomer(gw(0).publicUrl);
    const customer = await connect(gw(1), c.accessToken);
    const mitraSock = await connect(gw(2), token);

    await ctx.valkey?.stop();
    await waitFor(() => ctx.gateways.every((g) => g.health?.state === "down"), 3000);
    // During the outage the socket still works: the heartbeat goes to Postgres.
    mitraSock.send({ type: "heartbeat", id: 1 });
    expect(await mitraSock.next("ack")).toEqual({ type: "ack", id: 1 });
    // Fan-out from the same process still reaches its own sockets.
    const local = await connect(gw(1), c.accessToken);
    await gw(1).gateway.ws.fanout.send(
      { kind: "user", userType: "customer", userId: c.user.id },
      { type: "test.local" },
    );
    expect((await local.next("test.local")).type).toBe("test.local");

    await ctx.valkey?.startAgain();
    await waitFor(() => ctx.gateways.every((g) => g.health?.state === "up"), 5000);
    await waitFor(
      async () => {
        await gw(0).gateway.ws.fanout.send(
          { kind: "user", userType: "customer", userId: c.user.id },
          { type: "test.after" },
        );
        return customer.frames.some((f) => f.type === "test.after");
      },
      5000,
      200,
    );
    expect(customer.ws.readyState).toBe(WebSocket.OPEN);
    expect(mitraSock.ws.readyState).toBe(WebSocket.OPEN);
    for (const s of [customer, mitraSock, local]) s.ws.close();
  });
});

describe("pushes", () => {
  it("customers get availability on change, from whichever process changed it", async () => {
    const c = await anonymousCustomer(gw(0).publicUrl);
    const sock = await connect(gw(1), c.accessToken);
    const first = await sock.next("availability");
    const mitra = await seedMitra(gw(0).pool);
    const token = await mitraToken(gw(0), mitra);
    expect((await post(gw(2).publicUrl, "/api/mitra/status/online", {}, authHeader(token))).status).toBe(200);
    // The beacon is a shared 10 s snapshot; drop it so the test need not wait for its expiry. A
    // computation already under way when it is dropped may store the count from before the change
    // again: drop it until a new count is pushed.
    const snapshot = gw(0).gateway.services.keys.availabilitySnapshot;
    await gw(0).valkey?.del(snapshot);
    const dropAgain = setInterval(() => void gw(0).valkey?.del(snapshot), 1500);
    try {
      const pushed = await sock.next("availability", 6000);
      expect(pushed.available).toBe((first.available as number) + 1);
    } finally {
      clearInterval(dropAgain);
    }
    sock.ws.close();
  });

  it("a customer never gets the same availability twice in a row, the greeting included", async () => {
    // The count moves while gateway 2 has no customer, so its last push is stale: its next push
    // (the first second after a customer arrives) carries the count the greeting already did.
    const mitra = await seedMitra(gw(0).pool);
    const token = await mitraToken(gw(0), mitra);
    expect((await post(gw(0).publicUrl, "/api/mitra/status/online", {}, authHeader(token))).status).toBe(200);
    await gw(0).valkey?.del(gw(0).gateway.services.keys.availabilitySnapshot);
    const c = await anonymousCustomer(gw(2).publicUrl);
    const sock = await connect(gw(2), c.accessToken);
    const greeting = await sock.next("availability"); // (taken off sock.frames)
    await new Promise((r) => setTimeout(r, 2500)); // two pushes of gateway 2
    const counts = [greeting, ...sock.frames.filter((f) => f.type === "availability")].map(
      (f) => f.available,
    );
    for (let i = 1; i < counts.length; i++) expect(counts[i]).not.toBe(counts[i - 1]);
    sock.ws.close();
  });

  it("operators get dashboard.counts on change", async () => {
    const admin = await operatorToken(gw(0));
    const sock = await connect(gw(1), admin, "/internal/ws");
    const first = await sock.next("dashboard.counts");
    const mitra = await seedMitra(gw(0).pool);
    const res = await fetch(`${gw(2).internalUrl}/internal/mitras/${mitra}`, {
      method: "PATCH",
      headers: { ...authHeader(admin), "content-type": "application/json" },
      body: JSON.stringify({ isActive: false }),
    });
    expect(res.status).toBe(200);
    let pushed = await sock.next("dashboard.counts", 4000);
    while (pushed.deactivated === first.deactivated) pushed = await sock.next("dashboard.counts", 4000);
    expect(pushed.deactivated).toBe((first.deactivated as number) + 1);
    sock.ws.close();
  });
});
