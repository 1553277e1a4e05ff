import { describe, expect, it } from "vitest";
import type { TestGateway } from "./support/gateway.js";
import { openSession, seedMitra } from "./support/mitras.js";
import { ADMIN_ENV, call, newOperatorToken, operatorToken } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";
import { refusedUpgrade, WsClient, wsUrl } from "./support/ws-client.js";

const CC_ORIGIN = "https://cc.example.com";
const ctx = useGateways({
  env: { ...QUIET_SWEEPS, ...ADMIN_ENV, CC_ORIGINS: `${CC_ORIGIN},http://localhost:5173` },
});
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

describe("CORS for a control center on another origin (CC_ORIGINS)", () => {
  it("a listed origin gets CORS with credentials on /internal/**, preflight included; others get no CORS headers", async () => {
    const me = `${gw().internalUrl}/internal/auth/me`;
    const listed = await fetch(me, { headers: { origin: CC_ORIGIN } });
    expect(listed.headers.get("access-control-allow-origin")).toBe(CC_ORIGIN);
    expect(listed.headers.get("access-control-allow-credentials")).toBe("true");
    const preflight = await fetch(`${gw().internalUrl}/internal/mitras`, {
      method: "OPTIONS",
      headers: {
        origin: CC_ORIGIN,
        "access-control-request-method": "PATCH",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("PATCH");
    expect(preflight.headers.get("access-control-allow-headers")).toContain("authorization");
    const other = await fetch(me, { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const otherPreflight = await fetch(me, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(otherPreflight.headers.get("access-control-allow-origin")).toBeNull();
    const publicSide = await fetch(`${gw().publicUrl}/api/client/availability`, {
      headers: { origin: CC_ORIGIN },
    });
    expect(publicSide.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("an /internal/ws upgrade from an origin neither its own nor listed is refused with 403", async () => {
    const token = await operatorToken(gw());
    const url = wsUrl(gw().internalUrl, "/internal/ws");
    const refused = await refusedUpgrade(url, { token, headers: { origin: "https://evil.example" } });
    expect(refused.status).toBe(403);
    for (const origin of [CC_ORIGIN, gw().internalUrl, undefined]) {
      const ws = await WsClient.connect(url, { token, headers: origin ? { origin } : {} });
      await ws.next("hello");
      await ws.close();
    }
  });
});

describe("control-center routes", () => {
  it("GET /internal/dashboard/history answers the sampled counts, oldest first", async () => {
    const admin = await operatorToken(gw());
    const r = await call(`${gw().internalUrl}/internal/dashboard/history`, { token: admin });
    expect(r.status).toBe(200);
    expect(r.body.points.length).toBeGreaterThanOrEqual(1);
    expect(r.body.points[0]).toMatchObject({
      at: expect.any(String),
      online: expect.any(Number),
      available: expect.any(Number),
      activeSessions: expect.any(Number),
      pendingSessions: expect.any(Number),
    });
    expect((await call(`${gw().internalUrl}/internal/dashboard/history`)).status).toBe(401);
  });

  it("GET /internal/sessions lists open sessions with state and age, filtered and paged", async () => {
    const admin = await operatorToken(gw());
    const mitra = await seedMitra(gw().pool, { max: 5 });
    const ids = [
      await openSession(gw().pool, mitra, "active"),
      await openSession(gw().pool, mitra, "pending_payment"),
      await openSession(gw().pool, mitra, "active"),
    ];
    await openSession(gw().pool, mitra, "ended");
    const base = `${gw().internalUrl}/internal/sessions`;
    const all = await call(`${base}?limit=200`, { token: admin });
    expect(all.status).toBe(200);
    const mine = all.body.items.filter((x: { mitraId: string }) => x.mitraId === mitra);
    expect(mine.map((x: { id: string }) => x.id).sort()).toEqual([...ids].sort());
    expect(mine[0]).toMatchObject({
      status: expect.stringMatching(/^(active|pending_payment)$/),
      ageSeconds: expect.any(Number),
    });
    const active = await call(`${base}?status=active&limit=1`, { token: admin });
    expect(active.body.items).toHaveLength(1);
    expect(active.body.items[0].status).toBe("active");
    const next = await call(`${base}?status=active&limit=1&cursor=${active.body.nextCursor}`, {
      token: admin,
    });
    expect(next.body.items[0].id).not.toBe(active.body.items[0].id);
    expect((await call(`${base}?status=ended`, { token: admin })).status).toBe(400);
    expect((await call(`${base}?cursor=%00%01`, { token: admin })).status).toBe(400);
  });

  it("admins list operators and change roles; an operator is refused; an admin cannot demote themself", async () => {
    const admin = await operatorToken(gw());
    const operator = await newOperatorToken(gw(), admin);
    const base = `${gw().internalUrl}/internal/control-center-users`;
    const list = await call(base, { token: admin });
    expect(list.status).toBe(200);
    const op = list.body.items.find((x: { role: string }) => x.role === "operator");
    expect(op).toMatchObject({ email: expect.any(String), status: "active" });
    expect((await call(base, { token: operator })).status).toBe(403);
    expect(
      (await call(`${base}/${op.id}`, { method: "PATCH", token: operator, body: { role: "admin" } })).status,
    ).toBe(403);
    const promoted = await call(`${base}/${op.id}`, {
      method: "PATCH",
      token: admin,
      body: { role: "admin" },
    });
    expect(promoted.body.role).toBe("admin");
    await call(`${base}/${op.id}`, { method: "PATCH", token: admin, body: { role: "operator" } });
    const self = list.body.items.find((x: { role: string }) => x.role === "admin");
    expect(
      (await call(`${base}/${self.id}`, { method: "PATCH", token: admin, body: { role: "operator" } }))
        .status,
    ).toBe(403);
    expect(
      (await call(`${base}/${op.id}`, { method: "PATCH", token: admin, body: { role: "root" } })).status,
    ).toBe(400);
    expect(
      (await call(`${base}/not-a-uuid`, { method: "PATCH", token: admin, body: { role: "admin" } })).status,
    ).toBe(404);
  });
});
