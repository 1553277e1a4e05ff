import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { startTestGateway, type TestGateway, waitFor } from "./support/gateway.js";
import { json } from "./support/http.js";
import { openSession, seedMitra } from "./support/mitras.js";
import { OwnValkey, testPrefix } from "./support/valkey.js";

let db: TestDatabase;
let valkey: OwnValkey;
let a: TestGateway;
let b: TestGateway;
const QUIET = {
  MITRA_AUTO_OFFLINE_SWEEP_SECONDS: "3600",
  HEARTBEAT_MIRROR_INTERVAL_SECONDS: "3600",
  VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: "3600",
};

beforeAll(async () => {
  db = await createTestDatabase();
  valkey = await OwnValkey.start();
  const prefix = testPrefix();
  a = await startTestGateway({ databaseUrl: db.url, valkeyUrl: valkey.url, prefix, env: QUIET });
  b = await startTestGateway({ databaseUrl: db.url, valkeyUrl: valkey.url, prefix, env: QUIET });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  await valkey?.stop();
  await db?.drop();
});

const svc = (gw: TestGateway) => gw.gateway.services.avail;
const sorted = (ids: string[]) => [...ids].sort();

async function stopValkey(): Promise<void> {
  await valkey.stop();
  await waitFor(() => a.health?.state === "down" && b.health?.state === "down", 3000);
}
async function startValkey(): Promise<void> {
  await valkey.startAgain();
  await waitFor(() => a.health?.state === "up" && b.health?.state === "up", 5000);
}

describe("availability reads", () => {
  it("give the same answer from Postgres while Valkey is down, as of the last heartbeat mirror", async () => {
    const fresh = new Date();
    const stale = new Date(Date.now() - 10 * 60_000);
    const available = await seedMitra(a.pool, { online: true, heartbeatAt: fresh });
    const roomy = await seedMitra(a.pool, { online: true, heartbeatAt: fresh, max: 3 });
    await seedMitra(a.pool, { online: true, heartbeatAt: stale });
    const full = await seedMitra(a.pool, { online: true, heartbeatAt: fresh, max: 1 });
    await seedMitra(a.pool, { online: false, active: false, heartbeatAt: fresh });
    await seedMitra(a.pool, { online: false, heartbeatAt: fresh });
    await openSession(a.pool, full, "pending_payment");
    await openSession(a.pool, roomy, "active");
    await svc(a).scheduler.runNow("reseed");
    // Heartbeats happen in Valkey; the mirror copies them to Postgres.
    await Promise.all([available, roomy, full].map((id) => svc(a).heartbeats.recordHeartbeat(id)));
    await svc(a).scheduler.runNow("heartbeat_mirror");

    const fromValkey = {
      ids: sorted((await svc(a).availability.findAvailableMitras()).map((m) => m.id)),
      counts: await svc(a).availability.presenceCounts(),
      one: await svc(a).availability.isMitraAvailable(available),
      notFull: await svc(a).availability.isMitraAvailable(full),
    };
    expect(fromValkey.ids).toEqual(sorted([available, roomy]));
    expect(fromValkey.counts).toMatchObject({ online: 4, available: 2 });
    expect(fromValkey.counts.deactivated).toBeGreaterThanOrEqual(1);
    expect([fromValkey.one, fromValkey.notFull]).toEqual([true, false]);

    await stopValkey();
    try {
      const fallbacksBefore = await fallbackCount(b);
      const fromPostgres = {
        ids: sorted((await svc(b).availability.findAvailableMitras()).map((m) => m.id)),
        counts: await svc(b).availability.presenceCounts(),
        one: await svc(b).availability.isMitraAvailable(available),
        notFull: await svc(b).availability.isMitraAvailable(full),
      };
      expect(fromPostgres).toEqual(fromValkey);
      expect(await fallbackCount(b)).toBeGreaterThan(fallbacksBefore);
      // The public beacon still answers.
      const beacon = await json(await fetch(`${b.publicUrl}/api/client/availability`));
      expect(beacon.available).toBe(2);
    } finally {
      await startValkey();
    }
  });
});

describe("the availability beacon", () => {
  it("is one snapshot shared by every process, at most 10 s old", async () => {
    await a.valkey?.del(a.gateway.services.keys.availabilitySnapshot);
    const first = await json(await fetch(`${a.publicUrl}/api/client/availability`));
    const second = await json(await fetch(`${b.publicUrl}/api/client/availability`));
    expect(second).toEqual(first);
    expect(first.asOf).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.now() - Date.parse(first.asOf)).toBeLessThan(10_000);
    const ttl = await a.valkey?.ttl(a.gateway.services.keys.availabilitySnapshot);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10);
  });

  it("when missing, is recomputed by one process at a time: the others do not stampede", async () => {
    await a.valkey?.del(a.gateway.services.keys.availabilitySnapshot);
    const before = await commandCalls("sdiff");
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${(i % 2 ? a : b).publicUrl}/api/client/availability`).then(json),
      ),
    );
    expect(new Set(answers.map((x) => x.asOf)).size).toBe(1);
    expect((await commandCalls("sdiff")) - before).toBe(1);
  });
});

async function fallbackCount(gw: TestGateway): Promise<number> {
  const text = await gw.gateway.metrics.registry.getSingleMetricAsString("halo_valkey_fallbacks_total");
  let n = 0;
  for (const m of text.matchAll(/^halo_valkey_fallbacks_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function commandCalls(cmd: string): Promise<number> {
  const info = (await a.valkey?.info("commandstats")) ?? "";
  return Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}
