import { describe, expect, it } from "vitest";
import { type TestGateway, waitFor } from "./support/gateway.js";
import { json } from "./support/http.js";
import { openSession, seedMitra } from "./support/mitras.js";
import { QUIET_SWEEPS, startOwnValkey, stopOwnValkey, useGateways } from "./support/setup.js";

const ctx = useGateways({ count: 2, ownValkey: true, env: QUIET_SWEEPS });
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;

const svc = (g: TestGateway) => g.gateway.services.avail;
const sorted = (ids: string[]) => [...ids].sort();

const stopValkey = (): Promise<void> => stopOwnValkey(ctx);
const startValkey = (): Promise<void> => startOwnValkey(ctx);

describe("availability reads", () => {
  it("give the same answer from Postgres while Valkey is down, as of the last heartbeat mirror", async () => {
    const fresh = new Date();
    const stale = new Date(Date.now() - 10 * 60_000);
    const available = await seedMitra(gw(0).pool, { online: true, heartbeatAt: fresh });
    const roomy = await seedMitra(gw(0).pool, { online: true, heartbeatAt: fresh, max: 3 });
    await seedMitra(gw(0).pool, { online: true, heartbeatAt: stale });
    const full = await seedMitra(gw(0).pool, { online: true, heartbeatAt: fresh, max: 1 });
    await seedMitra(gw(0).pool, { online: false, active: false, heartbeatAt: fresh });
    await seedMitra(gw(0).pool, { online: false, heartbeatAt: fresh });
    await openSession(gw(0).pool, full, "pending_payment");
    await openSession(gw(0).pool, roomy, "active");
    await gw(0).gateway.services.scheduler.runNow("reseed");
    // Heartbeats happen in Valkey; the mirror copies them to Postgres.
    await Promise.all([available, roomy, full].map((id) => svc(gw(0)).heartbeats.recordHeartbeat(id)));
    await gw(0).gateway.services.scheduler.runNow("heartbeat_mirror");

    const fromValkey = {
      ids: sorted((await svc(gw(0)).availability.findAvailableMitras()).map((m) => m.id)),
      counts: await svc(gw(0)).availability.presenceCounts(),
      one: await svc(gw(0)).availability.isMitraAvailable(available),
      notFull: await svc(gw(0)).availability.isMitraAvailable(full),
    };
    expect(fromValkey.ids).toEqual(sorted([available, roomy]));
    expect(fromValkey.counts).toMatchObject({ online: 4, available: 2 });
    expect(fromValkey.counts.deactivated).toBeGreaterThanOrEqual(1);
    expect([fromValkey.one, fromValkey.notFull]).toEqual([true, false]);

    await stopValkey();
    try {
      const fallbacksBefore = await fallbackCount(gw(1));
      const fromPostgres = {
        ids: sorted((await svc(gw(1)).availability.findAvailableMitras()).map((m) => m.id)),
        counts: await svc(gw(1)).availability.presenceCounts(),
        one: await svc(gw(1)).availability.isMitraAvailable(available),
        notFull: await svc(gw(1)).availability.isMitraAvailable(full),
      };
      expect(fromPostgres).toEqual(fromValkey);
      expect(await fallbackCount(gw(1))).toBeGreaterThan(fallbacksBefore);
      // The public beacon still answers.
      const beacon = await json(await fetch(`${gw(1).publicUrl}/api/client/availability`));
      expect(beacon.available).toBe(2);
    } finally {
      await startValkey();
    }
  });
});

describe("a Valkey that lost its data without a reconnect (flushed, a replica promoted before it had it)", () => {
  it("is not read as nobody online: counts and pairing picks come from Postgres until the reseed it wakes has run", async () => {
    const fresh = new Date();
    const ids = await Promise.all(
      [1, 2, 3].map(() => seedMitra(gw(0).pool, { online: true, heartbeatAt: fresh })),
    );
    // No reseed left running on either process: one that straddled the flush would write the sentinel
    // over a half-written mirror (a narrow race of its own, docs/availability.md).
    await Promise.all([0, 1].map((i) => gw(i).gateway.services.scheduler.runNow("reseed")));

    await gw(0).valkey?.flushall();
    const fallbacksBefore = await fallbackCount(gw(1));
    // From Postgres: not 0 online, and pairing still finds the mitras.
    const fromPostgres = await svc(gw(1)).availability.presenceCounts();
    expect(fromPostgres.online).toBeGreaterThanOrEqual(3);
    expect(fromPostgres.available).toBeGreaterThanOrEqual(3);
    const picked = await gw(1).gateway.services.picker.pick(50, []);
    expect(picked).toEqual(expect.arrayContaining(ids));
    expect(await fallbackCount(gw(1))).toBeGreaterThan(fallbacksBefore);

    // The readers woke the reseed (nobody called it here): Valkey holds the whole mirror again and
    // answers the same, without falling back.
    const keys = gw(1).gateway.services.keys;
    await waitFor(async () => (await gw(1).valkey?.exists(keys.mirrorSeeded)) === 1, 10_000);
    expect(await gw(1).valkey?.scard(keys.mitrasOnline)).toBe(fromPostgres.online);
    const fallbacksAfter = await fallbackCount(gw(1));
    expect(await svc(gw(1)).availability.presenceCounts()).toEqual(fromPostgres);
    expect(await fallbackCount(gw(1))).toBe(fallbacksAfter);
  });
});

describe("the availability beacon", () => {
  it("is one snapshot shared by every process, at most 10 s old", async () => {
    await gw(0).valkey?.del(gw(0).gateway.services.keys.availabilitySnapshot);
    const first = await json(await fetch(`${gw(0).publicUrl}/api/client/availability`));
    const second = await json(await fetch(`${gw(1).publicUrl}/api/client/availability`));
    expect(second).toEqual(first);
    expect(first.asOf).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Date.now() - Date.parse(first.asOf)).toBeLessThan(10_000);
    const ttl = await gw(0).valkey?.ttl(gw(0).gateway.services.keys.availabilitySnapshot);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10);
  });

  it("when missing, is recomputed by one process at a time: 40 requests on two processes compute it at most once each", async () => {
    await gw(0).valkey?.del(gw(0).gateway.services.keys.availabilitySnapshot);
    const before = await commandCalls("sdiff");
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${gw(i % 2).publicUrl}/api/client/availability`).then(json),
      ),
    );
    expect(new Set(answers.map((x) => x.asOf)).size).toBe(1);
    // Under load a waiter may give up on its peer and compute once itself: never more than once per process.
    expect((await commandCalls("sdiff")) - before).toBeLessThanOrEqual(2);
  });
});

async function fallbackCount(gw: TestGateway): Promise<number> {
  const text = await gw.gateway.metrics.registry.getSingleMetricAsString("halo_valkey_fallbacks_total");
  let n = 0;
  for (const m of text.matchAll(/^halo_valkey_fallbacks_total\{[^}]*\} (\d+)/gm)) n += Number(m[1]);
  return n;
}

async function commandCalls(cmd: string): Promise<number> {
  const info = (await gw(0).valkey?.info("commandstats")) ?? "";
  return Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0);
}
