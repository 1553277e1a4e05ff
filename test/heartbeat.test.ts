import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { authHeader, post } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { startTestGateway, type TestGateway, waitFor } from "./support/gateway.js";
import { mitraToken, seedMitra } from "./support/mitras.js";
import { OwnValkey } from "./support/valkey.js";

let db: TestDatabase;
let valkey: OwnValkey;
let gw: TestGateway;

/** Sweeps hourly so none fires during a test and adds statements of its own. */
const QUIET_SWEEPS = {
  MITRA_AUTO_OFFLINE_SWEEP_SECONDS: "3600",
  HEARTBEAT_MIRROR_INTERVAL_SECONDS: "3600",
  VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: "3600",
};

beforeAll(async () => {
  db = await createTestDatabase();
  valkey = await OwnValkey.start();
  gw = await startTestGateway({ databaseUrl: db.url, valkeyUrl: valkey.url, env: QUIET_SWEEPS });
});
afterAll(async () => {
  await gw?.close();
  await valkey?.stop();
  await db?.drop();
});

const heartbeat = (token: string) =>
  post(gw.publicUrl, "/api/mitra/status/heartbeat", undefined, authHeader(token));
const keys = () => gw.gateway.services.keys;

/** Counts every statement the gateway's pool runs from now on. */
function countStatements(): { count: () => number; statements: () => string; restore: () => void } {
  const pool = gw.pool;
  const query = pool.query.bind(pool);
  const connect = pool.connect.bind(pool);
  const seen: string[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: wrapping pg's overloaded signatures
  (pool as any).query = (...args: any[]) => {
    const sql = typeof args[0] === "string" ? args[0] : String(args[0]?.text ?? args[0]?.name ?? "?");
    seen.push(sql.replace(/\s+/g, " ").slice(0, 80));
    return (query as (...a: unknown[]) => unknown)(...args);
  };
  // biome-ignore lint/suspicious/noExplicitAny: wrapping pg's overloaded signatures
  (pool as any).connect = (...args: any[]) => {
    seen.push("(a transaction's connection)");
    return (connect as (...a: unknown[]) => unknown)(...args);
  };
  return {
    count: () => seen.length,
    /** What ran, for the failure message. */
    statements: () => seen.join(" | "),
    restore: () => {
      Object.assign(pool, { query, connect });
    },
  };
}

describe("heartbeats", () => {
  it("touch Valkey only: zero Postgres statements per heartbeat while Valkey is up", async () => {
    const ids = await Promise.all([seedMitra(gw.pool), seedMitra(gw.pool), seedMitra(gw.pool)]);
    const tokens = await Promise.all(ids.map((id) => mitraToken(gw, id)));
    await heartbeat(tokens[0] as string); // warm-up
    // Background work reads Postgres whatever heartbeats do (the cron sweeps — the pairing sweep every
    // few seconds —, the dashboard's 10 s sample): paused for the count, so only the heartbeats' own count.
    const { scheduler, dashboardHistory } = gw.gateway.services;
    await scheduler.stop();
    dashboardHistory.stop();
    const counter = countStatements();
    try {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => heartbeat(tokens[i % 3] as string)),
      );
      expect(results.every((r) => r.status === 204)).toBe(true);
      // The write behind them too.
      await gw.gateway.services.avail.heartbeats.flushBehind();
      expect(counter.count(), counter.statements()).toBe(0);
    } finally {
      counter.restore();
      scheduler.start();
      dashboardHistory.start();
    }
    const hb = await gw.valkey?.get(keys().mitraHeartbeat(ids[1] as string));
    expect(Date.now() - Date.parse(hb as string)).toBeLessThan(5000);
  });

  it("does not set a mitra online", async () => {
    const id = await seedMitra(gw.pool);
    expect((await heartbeat(await mitraToken(gw, id))).status).toBe(204);
    expect(await gw.valkey?.sismember(keys().mitrasOnline, id)).toBe(0);
    const { rows } = await gw.pool.query("SELECT is_online FROM mitras WHERE id = $1", [id]);
    expect(rows[0].is_online).toBe(false);
  });

  it("writes the heartbeats of one write-behind window in one Valkey call", async () => {
    const ids = await Promise.all(Array.from({ length: 40 }, () => seedMitra(gw.pool)));
    const hb = gw.gateway.services.avail.heartbeats;
    // Written behind only while the in-memory guard is fresh (a Valkey health flap under load re-seeds it).
    await waitFor(() => gw.gateway.services.avail.deactivated.fresh, 5000);
    const before = await scriptCalls();
    await Promise.all(ids.slice(0, 20).map((id) => hb.recordHeartbeat(id)));
    await new Promise((r) => setImmediate(r)); // a later turn of the loop, same 50 ms window
    await Promise.all(ids.slice(20).map((id) => hb.recordHeartbeat(id)));
    await hb.flushBehind();
    expect((await scriptCalls()) - before).toBe(1);
    const beats = await gw.valkey?.mget(ids.map((id) => keys().mitraHeartbeat(id)));
    expect(beats?.every((b) => b !== null)).toBe(true);
  });

  it("a deactivated mitra's heartbeat is refused, with Valkey up and while Valkey is down", async () => {
    const id = await seedMitra(gw.pool);
    const token = await mitraToken(gw, id);
    // Deactivated in both stores, without revoking the session (so the guard itself is what refuses);
    // the process hears of it as every process does (the (de)activation event, or its next seed).
    await gw.pool.query("UPDATE mitras SET is_active = false WHERE id = $1", [id]);
    await gw.valkey?.sadd(keys().mitrasDeactivated, id);
    await gw.gateway.services.avail.deactivated.seed();
    const up = await heartbeat(token);
    expect([up.status, up.body.error.code]).toEqual([403, "ACCOUNT_INACTIVE"]);

    const live = await seedMitra(gw.pool);
    const liveToken = await mitraToken(gw, live);
    await valkey.stop();
    await waitFor(() => gw.health?.state === "down", 3000);
    try {
      // The revocation check and the guard both read Postgres now.
      const down = await heartbeat(token);
      expect([down.status, down.body.error.code]).toEqual([403, "ACCOUNT_INACTIVE"]);
      expect((await heartbeat(liveToken)).status).toBe(204);
      const { rows } = await gw.pool.query("SELECT last_heartbeat_at FROM mitras WHERE id = $1", [live]);
      expect(Date.now() - (rows[0].last_heartbeat_at as Date).getTime()).toBeLessThan(5000);
    } finally {
      await valkey.startAgain();
      await waitFor(() => gw.health?.state === "up", 5000);
    }
  });

  it("answers 401 without a token and 403 with a customer's", async () => {
    expect((await post(gw.publicUrl, "/api/mitra/status/heartbeat")).status).toBe(401);
    const customer = await post(gw.publicUrl, "/api/shared/auth/anonymous", {});
    const r = await heartbeat(customer.body.accessToken);
    expect([r.status, r.body.error.code]).toEqual([403, "FORBIDDEN"]);
  });
});

/** How many Lua scripts Valkey has run so far (our own server: nothing else runs scripts on it). */
async function scriptCalls(): Promise<number> {
  const info = (await gw.valkey?.info("commandstats")) ?? "";
  let n = 0;
  for (const m of info.matchAll(/cmdstat_(evalsha|eval):calls=(\d+)/g)) n += Number(m[2]);
  return n;
}
