import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { onlineHeartbeats } from "../src/mirror/online-heartbeats.js";
import { cronExpression } from "../src/sweeps/cadence.js";
import type { ValkeyClient } from "../src/valkey/client.js";
import { type TestGateway, waitFor } from "./support/gateway.js";
import { openSession, seedMitra } from "./support/mitras.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";

const ctx = useGateways({ count: 2, ownValkey: true, env: QUIET_SWEEPS });
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;

const svc = (g: TestGateway) => g.gateway.services.avail;
const keys = () => gw(0).gateway.services.keys;
const v = (): ValkeyClient => {
  const client = gw(0).valkey;
  if (!client) throw new Error("no valkey");
  return client;
};
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
const pgOnline = async (id: string) =>
  (await gw(0).pool.query("SELECT is_online FROM mitras WHERE id = $1", [id])).rows[0].is_online as boolean;
const logOf = async (id: string) =>
  (
    await gw(0).pool.query("SELECT status FROM mitra_status_log WHERE mitra_id = $1 ORDER BY id", [id])
  ).rows.map((r) => r.status);

describe("auto-offline", () => {
  it("turns stale mitras offline in Postgres and Valkey, logs auto_offline, and leaves fresh ones alone", async () => {
    const stale = await seedMitra(gw(0).pool, { online: true, heartbeatAt: minutesAgo(10) });
    const fresh = await seedMitra(gw(0).pool, { online: true, heartbeatAt: new Date() });
    await gw(0).gateway.services.scheduler.runNow("reseed");
    await svc(gw(0)).heartbeats.recordHeartbeat(fresh);

    const r = await gw(0).gateway.services.scheduler.runNow("auto_offline");
    expect(r).toMatchObject({ outcome: "done" });
    expect(await pgOnline(stale)).toBe(false);
    expect(await v().sismember(keys().mitrasOnline, stale)).toBe(0);
    expect(await logOf(stale)).toEqual(["auto_offline"]);
    expect(await pgOnline(fresh)).toBe(true);
    expect(await v().sismember(keys().mitrasOnline, fresh)).toBe(1);
  });

  it("judges staleness by Valkey's heartbeat, not Postgres's older copy", async () => {
    // Postgres still holds an old heartbeat (the mirror has not run), Valkey a fresh one.
    const id = await seedMitra(gw(0).pool, { online: true, heartbeatAt: minutesAgo(30) });
    await gw(0).gateway.services.scheduler.runNow("reseed");
    await svc(gw(0)).heartbeats.recordHeartbeat(id);
    await gw(0).gateway.services.scheduler.runNow("auto_offline");
    expect(await pgOnline(id)).toBe(true);
  });

  it("aborts entirely while Valkey is down: no mass offline from a Postgres scan", async () => {
    const ids = await Promise.all(
      [1, 2, 3].map(() => seedMitra(gw(0).pool, { online: true, heartbeatAt: minutesAgo(30) })),
    );
    await ctx.valkey?.stop();
    await waitFor(() => gw(0).health?.state === "down", 3000);
    try {
      expect(await gw(0).gateway.services.scheduler.runNow("auto_offline")).toBeUndefined(); // aborted
      for (const id of ids) expect(await pgOnline(id)).toBe(true);
      const metrics = await gw(0).gateway.metrics.registry.getSingleMetricAsString("halo_sweep_runs_total");
      expect(metrics).toMatch(/sweep="auto_offline",outcome="aborted"\} [1-9]/);
    } finally {
      await ctx.valkey?.startAgain();
      await waitFor(() => gw(0).health?.state === "up" && gw(1).health?.state === "up", 5000);
      // Let the reconnect reseeds finish before the next test seeds its own mitras.
      await Promise.all([
        gw(0).gateway.services.scheduler.runNow("reseed"),
        gw(1).gateway.services.scheduler.runNow("reseed"),
      ]);
    }
  });

  it("runs once when several processes run it at the same moment", async () => {
    const ids = await Promise.all(
      [1, 2, 3, 4].map(() => seedMitra(gw(0).pool, { online: true, heartbeatAt: minutesAgo(30) })),
    );
    await gw(0).gateway.services.scheduler.runNow("reseed");
    const [ra, rb] = await Promise.all([
      gw(0).gateway.services.scheduler.runNow("auto_offline"),
      gw(1).gateway.services.scheduler.runNow("auto_offline"),
    ]);
    const changed = [ra, rb].map((r) => (r?.outcome === "done" ? r.changed : 0));
    expect(changed.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(4);
    for (const id of ids) expect(await logOf(id)).toEqual(["auto_offline"]);
  });
});

describe("heartbeat mirror", () => {
  it("writes Valkey's heartbeats to Postgres, and two concurrent runs change nothing twice", async () => {
    const ids = await Promise.all(
      [1, 2, 3].map(() => seedMitra(gw(0).pool, { online: true, heartbeatAt: minutesAgo(5) })),
    );
    await gw(0).gateway.services.scheduler.runNow("reseed");
    await Promise.all(ids.map((id) => svc(gw(0)).heartbeats.recordHeartbeat(id)));
    await svc(gw(0)).heartbeats.flushBehind(); // written behind the answers
    const inValkey = await v().mget(ids.map((id) => keys().mitraHeartbeat(id)));

    await Promise.all([
      gw(0).gateway.services.scheduler.runNow("heartbeat_mirror"),
      gw(1).gateway.services.scheduler.runNow("heartbeat_mirror"),
    ]);
    const { rows } = await gw(0).pool.query(
      "SELECT id, last_heartbeat_at FROM mitras WHERE id = ANY($1::uuid[])",
      [ids],
    );
    const byId = new Map(rows.map((r) => [r.id, (r.last_heartbeat_at as Date).toISOString()]));
    expect(ids.map((id) => byId.get(id))).toEqual(inValkey);

    const again = await gw(0).gateway.services.scheduler.runNow("heartbeat_mirror");
    expect(again).toEqual({ outcome: "done", changed: 0 });
  });
});

describe("reseed", () => {
  it("rebuilds a flushed Valkey from Postgres", async () => {
    const online = await seedMitra(gw(0).pool, { online: true, heartbeatAt: new Date(), max: 2 });
    const off = await seedMitra(gw(0).pool, { online: false, active: false });
    await openSession(gw(0).pool, online);
    await v().flushall();
    await gw(0).gateway.services.scheduler.runNow("reseed");
    expect(await v().sismember(keys().mitrasOnline, online)).toBe(1);
    expect(await v().sismember(keys().mitrasDeactivated, off)).toBe(1);
    expect(await v().get(keys().mitraMax(online))).toBe("2");
    expect(await v().get(keys().mitraCapacity(online))).toBe("1");
    expect(await v().get(keys().mitraHeartbeat(online))).not.toBeNull();
  });

  it("rebuilds the available set with the scores the write paths give: least loaded first, then longest since an offer", async () => {
    const busy = await seedMitra(gw(0).pool, { online: true, heartbeatAt: new Date(), max: 2 });
    const full = await seedMitra(gw(0).pool, { online: true, heartbeatAt: new Date(), max: 1 });
    const offered = await seedMitra(gw(0).pool, { online: true, heartbeatAt: new Date(), max: 1 });
    const idle = await seedMitra(gw(0).pool, { online: true, heartbeatAt: new Date(), max: 1 });
    const away = await seedMitra(gw(0).pool, { online: false, heartbeatAt: new Date(), max: 1 });
    await openSession(gw(0).pool, busy);
    await openSession(gw(0).pool, full);
    await gw(0).gateway.services.scheduler.runNow("reseed");
    await v().hset(keys().mitrasLastOffered, offered, String(Date.now()));
    // The write path's scores (sync-available-n.lua), for these five.
    await gw(0).gateway.services.avail.mirror.setCapacities(
      [busy, full, offered, idle, away].map((mitraId) => ({
        mitraId,
        capacity: mitraId === busy || mitraId === full ? 1 : 0,
      })),
    );
    const byWritePath = await v().zrange(keys().mitrasAvailable, 0, -1, "WITHSCORES");
    await v().del(keys().mitrasAvailable);
    await gw(0).gateway.services.scheduler.runNow("reseed");
    const byReseed = await v().zrange(keys().mitrasAvailable, 0, -1, "WITHSCORES");
    const ours = (flat: string[]) => {
      const m = new Map<string, string>();
      for (let i = 0; i < flat.length; i += 2) m.set(flat[i] as string, flat[i + 1] as string);
      return [idle, offered, busy, full, away].map((id) => m.get(id) ?? null);
    };
    expect(ours(byReseed)).toEqual(ours(byWritePath));
    const [idleScore, offeredScore, busyScore, fullScore, awayScore] = ours(byReseed);
    expect(Number(idleScore)).toBeLessThan(Number(offeredScore));
    expect(Number(offeredScore)).toBeLessThan(Number(busyScore));
    expect([fullScore, awayScore]).toEqual([null, null]);
  });

  it("runs by itself when Valkey restarts empty, within 5 s", async () => {
    const id = await seedMitra(gw(0).pool, { online: true, heartbeatAt: new Date() });
    await gw(0).gateway.services.scheduler.runNow("reseed");
    await ctx.valkey?.stop();
    await ctx.valkey?.startAgain(); // a new, empty server on the same port
    const ms = await waitFor(
      async () =>
        (await v()
          .sismember(keys().mitrasOnline, id)
          .catch(() => 0)) === 1,
      8000,
      100,
    );
    expect(ms).toBeLessThan(5000);
  });

  it("never moves a heartbeat backwards", async () => {
    const id = await seedMitra(gw(0).pool, { online: true, heartbeatAt: minutesAgo(3) });
    const newer = new Date().toISOString();
    await v().set(keys().mitraHeartbeat(id), newer);
    await gw(0).gateway.services.scheduler.runNow("reseed");
    expect(await v().get(keys().mitraHeartbeat(id))).toBe(newer);
  });

  it("moves an older heartbeat forward to Postgres's, written as the heartbeat path writes it", async () => {
    const at = minutesAgo(1);
    const id = await seedMitra(gw(0).pool, { online: true, heartbeatAt: at });
    await v().set(keys().mitraHeartbeat(id), minutesAgo(5).toISOString());
    await gw(0).gateway.services.scheduler.runNow("reseed");
    expect(await v().get(keys().mitraHeartbeat(id))).toBe(at.toISOString());
  });

  it("rebuilds 25,000 mitras read over several cursor batches: every set whole, every key written", async () => {
    const { rows } = await gw(0).pool.query<{ id: string; i: number }>(
      `INSERT INTO mitras (phone, display_name, is_online, is_active, max_concurrent_sessions, last_heartbeat_at)
       SELECT '+62877' || lpad(i::text, 8, '0'), 'Batch ' || i, i % 5 <> 0, i % 7 <> 0, 1 + i % 2, now()
       FROM generate_series(1, 25000) AS i
       RETURNING id, (substr(phone, 7))::int AS i`,
    );
    await v().flushall();
    await gw(0).gateway.services.scheduler.runNow("reseed");
    const ids = rows.map((r) => r.id);
    const online = new Set(rows.filter((r) => r.i % 5 !== 0 && r.i % 7 !== 0).map((r) => r.id));
    const deactivated = new Set(rows.filter((r) => r.i % 7 === 0).map((r) => r.id));
    const [inOnline, inDeactivated, available] = await Promise.all([
      v().smismember(keys().mitrasOnline, ids),
      v().smismember(keys().mitrasDeactivated, ids),
      v().zmscore(keys().mitrasAvailable, ...ids),
    ]);
    ids.forEach((id, k) => {
      expect(inOnline[k], id).toBe(online.has(id) ? 1 : 0);
      expect(inDeactivated[k], id).toBe(deactivated.has(id) ? 1 : 0);
      expect(available[k] !== null, id).toBe(online.has(id)); // capacity 0 of max 1 or 2
    });
    const maxes = await v().mget(ids.map((id) => keys().mitraMax(id)));
    expect(maxes).toEqual(rows.map((r) => String(1 + (r.i % 2))));
    expect(await v().exists(keys().mirrorSeeded)).toBe(1);
  });

  it("loses no status change made while it runs", async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, () => seedMitra(gw(0).pool)));
    for (let round = 0; round < 6; round++) {
      // Status changes on one process race a reseed on the other.
      await Promise.all([
        gw(1).gateway.services.scheduler.runNow("reseed"),
        ...ids.map((id, i) =>
          (i + round) % 2 ? svc(gw(0)).status.goOnline(id) : svc(gw(0)).status.goOffline(id),
        ),
      ]);
      const { rows } = await gw(0).pool.query("SELECT id FROM mitras WHERE is_online AND is_active");
      const members = new Set(await v().smembers(keys().mitrasOnline));
      for (const id of ids) expect(members.has(id)).toBe(rows.some((r) => r.id === id));
    }
  });
});

describe("capacity", () => {
  it("is recomputed from Postgres after concurrent session changes, on several processes", async () => {
    const id = await seedMitra(gw(0).pool, { max: 20 });
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        await openSession(gw(0).pool, id);
        await svc(gw(i % 2)).recomputeCapacity([id]);
      }),
    );
    expect(await v().get(keys().mitraCapacity(id))).toBe("12");
    await gw(0).pool.query(
      "UPDATE chat_sessions SET status = 'ended', end_reason = 'EXPIRED' WHERE mitra_id = $1 AND ctid IN (SELECT ctid FROM chat_sessions WHERE mitra_id = $1 LIMIT 5)",
      [id],
    );
    await svc(gw(1)).recomputeCapacity([id]);
    expect(await v().get(keys().mitraCapacity(id))).toBe("7");
  });
});

describe("sweep cadences", () => {
  it("map to node-cron expressions on the wall-clock grid", () => {
    expect(cronExpression(30)).toBe("*/30 * * * * *");
    expect(cronExpression(60)).toBe("0 * * * * *");
    expect(cronExpression(300)).toBe("0 */5 * * * *");
    expect(cronExpression(3600)).toBe("0 0 * * * *");
  });
});

describe("mirror writes", () => {
  it("a write landing after a newer one never undoes it (status versions)", async () => {
    const id = await seedMitra(gw(0).pool);
    const state = (version: string, online: boolean, active: boolean) => ({
      mitraId: id,
      version,
      online,
      active,
    });
    await svc(gw(0)).mirror.applyStatuses([state("900000010", false, false)]); // deactivated
    await svc(gw(0)).mirror.applyStatuses([state("900000009", true, true)]); // the late write of a racing go-online
    expect(await v().sismember(keys().mitrasOnline, id)).toBe(0);
    expect(await v().sismember(keys().mitrasDeactivated, id)).toBe(1);
    await svc(gw(0)).mirror.applyStatuses([state("900000011", true, true)]);
    expect(await v().sismember(keys().mitrasOnline, id)).toBe(1);
    expect(await v().sismember(keys().mitrasDeactivated, id)).toBe(0);
  });
});

describe("online heartbeats read in slices", () => {
  it("lists each of 2,500 online mitras once, over several SSCAN slices, with its heartbeat or null", async () => {
    const ids = Array.from({ length: 2500 }, () => randomUUID());
    const at = new Date().toISOString();
    await v().sadd(keys().mitrasOnline, ids);
    // Every other one has a heartbeat.
    await v().mset(ids.filter((_, i) => i % 2 === 0).flatMap((id) => [keys().mitraHeartbeat(id), at]));
    try {
      const seen = new Map<string, string | null>();
      let slices = 0;
      for await (const { ids: slice, hbs } of onlineHeartbeats(v(), keys())) {
        slices++;
        slice.forEach((id, i) => {
          expect(seen.has(id)).toBe(false);
          seen.set(id, hbs[i] ?? null);
        });
      }
      expect(slices).toBeGreaterThan(1);
      expect(ids.map((id) => seen.get(id))).toEqual(ids.map((_, i) => (i % 2 === 0 ? at : null)));
    } finally {
      await v().srem(keys().mitrasOnline, ids);
      await v().del(...ids.map((id) => keys().mitraHeartbeat(id)));
    }
  });
});
