/**
 * Availability benchmark (see bench/README.md). Against a database and
 * Valkey key prefixes of its own:
 *
 *   1. the three sweeps (reseed, auto-offline, heartbeat mirror) over 100,000
 *      mitras, run in this process from dist/ as the gateway runs them;
 *   2. Availability.findAvailableMitras over 10,000 online mitras, in process;
 *   3. HTTP heartbeats on one gateway process (dist/main.js, a child process)
 *      against a bare uWS route doing the naive work (JWT verify + SISMEMBER +
 *      SET per request), closed loop from worker threads;
 *   4. Postgres transactions per heartbeat during the heartbeat windows,
 *      minus the gateway's background over an idle window as long.
 *
 * Server CPU per operation comes from the server's own counters
 * (process.cpuUsage here and in the baseline, process_cpu_seconds_total on
 * the gateway's /metrics).
 *
 *   npm run build && node bench/availability-bench.mjs
 *
 * BENCH_RUNS (3), BENCH_MITRAS (100000), BENCH_FIND_MITRAS (10000),
 * BENCH_FIND_CALLS (200), BENCH_HEARTBEAT_SECONDS (5), BENCH_CLIENTS (32),
 * BENCH_LOAD_WORKERS (2), BENCH_PG_ADMIN_URL, BENCH_VALKEY_URL override defaults.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import Redis from "ioredis";
import pg from "pg";
import { BASE_ENV, startChild } from "./lib/child-service.mjs";
import { jwtKeyCost } from "./lib/jwt-key-cost.mjs";
import { waitForQuiet } from "./lib/machine-load.mjs";
import { sample } from "./lib/prom-text.mjs";
import { writeResults } from "./lib/results-file.mjs";
import {
  deleteValkeyKeys as deleteScratchKeys,
  scratchDatabaseUrl,
  withAdmin as withScratchAdmin,
} from "./lib/scratch-stores.mjs";
import { signedInMitras } from "./lib/signed-in-mitras.mjs";
import { fmt, median, percentile } from "./lib/stats.mjs";

const env = process.env;
const int = (v, d) => (v && /^\d+$/.test(v) ? Number(v) : d);
const RUNS = int(env.BENCH_RUNS, 3);
const MITRAS = int(env.BENCH_MITRAS, 100_000);
const FIND_MITRAS = int(env.BENCH_FIND_MITRAS, 10_000);
const FIND_CALLS = int(env.BENCH_FIND_CALLS, 200);
const HEARTBEAT_MS = int(env.BENCH_HEARTBEAT_SECONDS, 5) * 1000;
const WARMUP_MS = 1000;
const CLIENTS = int(env.BENCH_CLIENTS, 32);
const LOAD_WORKERS = Math.max(1, Math.min(int(env.BENCH_LOAD_WORKERS, 2), CLIENTS));
const SWEEP_TARGET_MS = 2000;
const THROUGHPUT_TARGET = 0.9;
/** The gateway's default HEARTBEAT_STALE_SECONDS; the in-process sweeps and reads use the same. */
const STALE_SECONDS = 90;
/** Seeded "stale" heartbeats are this old: well past STALE_SECONDS. */
const STALE_AGE_MS = 10 * 60_000;
const MSET_CHUNK = 5000;
/**
 * Postgres 15 backends flush their statistics at most once a second while
 * busy, and a deferred flush happens within 10 s of going idle: the
 * pg_stat_database reading after a heartbeat window waits this long.
 */
const PG_STATS_SETTLE_MS = 11_000;
/** Machine busy share (all cores) above which a run is "not quiet": another process is competing. */
const QUIET_BELOW = 0.15;
const QUIET_WAIT_MS = int(env.BENCH_QUIET_WAIT_SECONDS, 20) * 1000;
const PG_ADMIN_URL = env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const VALKEY_URL = env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const MAIN_JS = path("../dist/main.js");
const WORKER_JS = path("./lib/load-worker.mjs");
const NAIVE_HEARTBEAT_JS = path("./baselines/naive-heartbeat.mjs");
const HEARTBEAT_PATH = "/api/mitra/status/heartbeat";
/** The baseline's like-for-like variant: it also checks the session's revocation key (EXISTS), as the gateway does. */
const HEARTBEAT_PATH_WITH_EXISTS = `${HEARTBEAT_PATH}?check-revocation=1`;

const DB_NAME = `halo_bench_avail_${process.pid}`;
const KEY_ROOT = `halo_bench_avail_${process.pid}:`;
/** One prefix per dataset, all under KEY_ROOT (deleted together at the end). */
const PREFIX = {
  sweeps: `${KEY_ROOT}sweeps:`,
  find: `${KEY_ROOT}find:`,
  gateway: `${KEY_ROOT}gw:`,
  naive: `${KEY_ROOT}naive:`,
};
const JWT_SECRET = randomBytes(36).toString("base64url");
const DATABASE_URL = scratchDatabaseUrl(PG_ADMIN_URL, DB_NAME);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);
/** The logger the gateway's modules get here: warnings and errors printed, the rest dropped. */
const benchLogger = {
  warn: (obj, msg) => log(`  [warn] ${msg ?? ""} ${JSON.stringify(obj)}`),
  error: (obj, msg) => log(`  [error] ${msg ?? ""} ${JSON.stringify(obj)}`),
  info: () => {},
  debug: () => {},
  trace: () => {},
  fatal: (obj, msg) => log(`  [fatal] ${msg ?? ""} ${JSON.stringify(obj)}`),
  child() {
    return benchLogger;
  },
};
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};

// ---------------------------------------------------------------- resources

const owned = { children: new Set(), workers: new Set(), dbCreated: false, closers: [] };

const withAdmin = (fn) => withScratchAdmin(PG_ADMIN_URL, fn);

async function createDatabase() {
  await withAdmin((a) => a.query(`CREATE DATABASE ${DB_NAME}`));
  owned.dbCreated = true;
}

async function dropDatabase() {
  if (!owned.dbCreated) return;
  await withAdmin((a) => a.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`));
  owned.dbCreated = false;
}

const deleteValkeyKeys = (prefix) => deleteScratchKeys(VALKEY_URL, prefix);

function track(svc) {
  owned.children.add(svc);
  svc.child.once("exit", () => owned.children.delete(svc));
  return svc;
}

async function cleanup() {
  for (const w of owned.workers) await w.terminate().catch(() => {});
  for (const svc of [...owned.children]) await svc.stop("SIGTERM", 5000).catch(() => {});
  for (const close of owned.closers.splice(0).reverse()) await close().catch(() => {});
  await dropDatabase().catch((err) => log(`could not drop ${DB_NAME}: ${err.message}`));
  await deleteValkeyKeys(KEY_ROOT).catch((err) => log(`could not delete ${KEY_ROOT}* keys: ${err.message}`));
}

/** Valkey's own CPU (user + system, µs) from INFO: the whole server, other clients of it included. */
async function valkeyCpuUs(redis) {
  const info = await redis.info("cpu");
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}

/** Transactions (commits + rollbacks, so single statements too) of the bench database so far. */
async function pgTransactions(admin) {
  const { rows } = await admin.query(
    "SELECT (xact_commit + xact_rollback)::bigint AS n FROM pg_stat_database WHERE datname = $1",
    [DB_NAME],
  );
  return Number(rows[0]?.n ?? Number.NaN);
}

// ---------------------------------------------------------------- the gateway's modules, in process

async function loadDist() {
  const [
    autoOffline,
    heartbeatMirror,
    reseed,
    availability,
    mitraMirror,
    keys,
    metrics,
    pool,
    migrate,
    client,
    presenceEvents,
  ] = await Promise.all([
    import("../dist/sweeps/auto-offline.js"),
    import("../dist/sweeps/heartbeat-mirror.js"),
    import("../dist/sweeps/reseed.js"),
    import("../dist/mirror/availability.js"),
    import("../dist/mirror/mitra-mirror.js"),
    import("../dist/valkey/keys.js"),
    import("../dist/metrics.js"),
    import("../dist/db/pool.js"),
    import("../dist/db/migrate.js"),
    import("../dist/valkey/client.js"),
    import("../dist/mirror/presence-events.js"),
  ]);
  return {
    AutoOffline: autoOffline.AutoOffline,
    HeartbeatMirror: heartbeatMirror.HeartbeatMirror,
    Reseed: reseed.Reseed,
    Availability: availability.Availability,
    MitraMirror: mitraMirror.MitraMirror,
    createKeys: keys.createKeys,
    createMetrics: metrics.createMetrics,
    createPool: pool.createPool,
    migrate: migrate.migrate,
    createValkeyClient: client.createValkeyClient,
    PresenceEvents: presenceEvents.PresenceEvents,
  };
}

/** The gateway's own client settings (no offline queue, 2 s command timeout), once connected. */
async function connectValkey(dist, name) {
  const v = dist.createValkeyClient({ kind: "standalone", url: VALKEY_URL }, name);
  owned.closers.push(async () => v.disconnect());
  if (v.status !== "ready") {
    await new Promise((resolve, reject) => {
      v.once("ready", resolve);
      v.once("error", reject);
    });
  }
  return v;
}

/**
 * Counts the statements sent through `pool` (pool.query and the clients it
 * hands out): pg_stat_statements is not loaded on this machine.
 */
function countStatements(pool) {
  const counter = { n: 0 };
  const wrapped = new WeakSet();
  const wrap = (target) => {
    if (wrapped.has(target)) return target;
    wrapped.add(target);
    const query = target.query.bind(target);
    target.query = (...args) => {
      counter.n++;
      return query(...args);
    };
    return target;
  };
  const connect = pool.connect.bind(pool);
  // pool.query checks a client out with a callback and calls the client's query: counted there.
  pool.connect = (cb) =>
    cb ? connect((err, client, release) => cb(err, client && wrap(client), release)) : connect().then(wrap);
  return counter;
}

async function msetChunked(v, pairs) {
  for (let i = 0; i < pairs.length; i += MSET_CHUNK * 2) await v.mset(pairs.slice(i, i + MSET_CHUNK * 2));
}

// ---------------------------------------------------------------- 1. sweeps over 100,000 mitras

async function sweepsSection(dist, pool, v, admin, r) {
  const keys = dist.createKeys({ prefix: PREFIX.sweeps, cluster: false });
  const now = () => new Date();
  // The gateway's mirror writer: reseed and auto-offline write presence through it (versioned Lua).
  const mirror = new dist.MitraMirror(v, keys, benchLogger, dist.createMetrics());
  const reseed = new dist.Reseed({ pool, valkey: v, keys, now, mirror });
  const autoOffline = new dist.AutoOffline({
    pool,
    valkey: v,
    keys,
    now,
    mirror,
    // Nobody listens here: no sessions to reroute in this bench.
    events: new dist.PresenceEvents(benchLogger),
    staleSeconds: STALE_SECONDS,
  });
  const heartbeatMirror = new dist.HeartbeatMirror({ pool, valkey: v, keys });

  const seedAt = Date.now();
  // Postgres holds heartbeats as of an older mirror (30 min ago); updated_at an hour ago, so the
  // reseed's "changed in the last seconds" re-apply has only what really just changed.
  const t0 = performance.now();
  await pool.query(
    `INSERT INTO mitras (phone, display_name, is_online, last_heartbeat_at, updated_at)
     SELECT '+628' || lpad(g::text, 10, '0'), 'Bench mitra ' || g, g % 2 = 0,
            CASE WHEN g % 2 = 0 THEN $1::timestamptz END, $2::timestamptz
     FROM generate_series(1, $3::int) AS g`,
    [new Date(seedAt - 30 * 60_000), new Date(seedAt - 60 * 60_000), MITRAS],
  );
  await pool.query("ANALYZE mitras");
  const online = (await pool.query("SELECT id FROM mitras WHERE is_online ORDER BY id")).rows.map(
    (x) => x.id,
  );
  const fresh = online.slice(0, Math.ceil(online.length / 2));
  const stale = online.slice(fresh.length);
  const seeded = await reseed.run(); // Valkey seeded from Postgres, as at gateway start
  log(
    `  seeded ${fmt(MITRAS, 0)} mitras (${fmt(online.length, 0)} online: ${fmt(fresh.length, 0)} fresh, ` +
      `${fmt(stale.length, 0)} stale) in ${fmt((performance.now() - t0) / 1000)} s; first reseed ${seeded.outcome}`,
  );

  /** Each run starts from the same state: the stale half online again, heartbeats set anew. */
  const restore = async () => {
    await pool.query(
      "UPDATE mitras SET is_online = true, updated_at = $2 WHERE id = ANY($1::uuid[]) AND NOT is_online",
      [stale, new Date(Date.now() - 60 * 60_000)],
    );
    const nowIso = new Date().toISOString();
    const staleIso = new Date(Date.now() - STALE_AGE_MS).toISOString();
    await msetChunked(
      v,
      fresh.flatMap((id) => [keys.mitraHeartbeat(id), nowIso]),
    );
    await msetChunked(
      v,
      stale.flatMap((id) => [keys.mitraHeartbeat(id), staleIso]),
    );
  };

  const statements = countStatements(pool);
  const timed = async (sweep) => {
    const c0 = cpuUs();
    const k0 = await valkeyCpuUs(admin.redis);
    const n0 = statements.n;
    const t = performance.now();
    const out = await sweep.run();
    const wallMs = performance.now() - t;
    const cpuMs = (cpuUs() - c0) / 1000;
    const pgStatements = statements.n - n0;
    const valkeyMs = ((await valkeyCpuUs(admin.redis)) - k0) / 1000;
    return { wallMs, cpuMs, valkeyMs, pgStatements, outcome: out.outcome, changed: out.changed ?? 0 };
  };

  for (let run = 1; run <= RUNS; run++) {
    await restore();
    const busy = await waitForQuiet(QUIET_BELOW, QUIET_WAIT_MS);
    r.busyBeforeRun.push(busy);
    log(
      `sweeps run ${run}/${RUNS} (machine ${fmt(busy * 100, 0)} % busy before it${busy >= QUIET_BELOW ? ": NOT QUIET" : ""})`,
    );
    for (const [name, sweep] of [
      ["reseed", reseed],
      ["autoOffline", autoOffline],
      ["heartbeatMirror", heartbeatMirror],
    ]) {
      const x = await timed(sweep);
      r.sweeps[name].push(x);
      log(
        `  ${name.padEnd(16)} ${fmt(x.wallMs, 0).padStart(6)} ms wall, ${fmt(x.cpuMs, 0).padStart(5)} ms CPU here, ` +
          `${fmt(x.valkeyMs, 0).padStart(5)} ms Valkey CPU, ${fmt(x.pgStatements, 0)} Postgres statements; ` +
          `${x.outcome}, ${fmt(x.changed, 0)} rows changed`,
      );
    }
  }
  r.sweepSet = { mitras: MITRAS, online: online.length, fresh: fresh.length, stale: stale.length };
}

// ---------------------------------------------------------------- 2. findAvailableMitras over 10,000

async function findSection(dist, pool, v, admin, r) {
  const keys = dist.createKeys({ prefix: PREFIX.find, cluster: false });
  const availability = new dist.Availability({
    pool,
    valkey: v,
    keys,
    metrics: dist.createMetrics(),
    now: () => new Date(),
    staleSeconds: STALE_SECONDS,
  });
  // Valkey only (the read path does not touch Postgres while Valkey answers): online, fresh, room for one.
  const ids = Array.from({ length: FIND_MITRAS }, () => randomUUID());
  for (let i = 0; i < ids.length; i += MSET_CHUNK)
    await v.sadd(keys.mitrasOnline, ids.slice(i, i + MSET_CHUNK));
  const seedFresh = async () => {
    const nowIso = new Date().toISOString();
    await msetChunked(
      v,
      ids.flatMap((id) => [
        keys.mitraHeartbeat(id),
        nowIso,
        keys.mitraCapacity(id),
        "0",
        keys.mitraMax(id),
        "1",
      ]),
    );
  };
  await seedFresh();
  for (let i = 0; i < 20; i++) await availability.findAvailableMitras(); // warm-up (JIT, connection)

  for (let run = 1; run <= RUNS; run++) {
    await seedFresh();
    const busy = await waitForQuiet(QUIET_BELOW, QUIET_WAIT_MS);
    r.busyBeforeRun.push(busy);
    const latencies = [];
    let found = Number.NaN;
    const c0 = cpuUs();
    const k0 = await valkeyCpuUs(admin.redis);
    for (let i = 0; i < FIND_CALLS; i++) {
      const t = performance.now();
      found = (await availability.findAvailableMitras()).length;
      latencies.push(performance.now() - t);
    }
    const x = {
      cpuUsPerCall: (cpuUs() - c0) / FIND_CALLS,
      valkeyUsPerCall: ((await valkeyCpuUs(admin.redis)) - k0) / FIND_CALLS,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      found,
    };
    r.find.push(x);
    log(
      `findAvailableMitras run ${run}/${RUNS} (machine ${fmt(busy * 100, 0)} % busy${busy >= QUIET_BELOW ? ": NOT QUIET" : ""}): ` +
        `${fmt(x.cpuUsPerCall, 0)} µs CPU/call here, ${fmt(x.valkeyUsPerCall, 0)} µs Valkey CPU/call, ` +
        `p50 ${fmt(x.p50Ms)} ms, p99 ${fmt(x.p99Ms)} ms, ${fmt(found, 0)} found`,
    );
  }
}

// ---------------------------------------------------------------- 3–4. HTTP heartbeats

async function startGateway() {
  const svc = track(
    startChild({
      name: "gateway",
      args: [MAIN_JS],
      env: {
        ...BASE_ENV,
        NODE_ENV: "test",
        LOG_LEVEL: "info", // the "listening" line (with both ports) is an info line
        PUBLIC_HOST: "127.0.0.1",
        PUBLIC_PORT: "0",
        INTERNAL_HOST: "127.0.0.1",
        INTERNAL_PORT: "0",
        DATABASE_URL,
        VALKEY_URL,
        VALKEY_KEY_PREFIX: PREFIX.gateway,
        AUTH_JWT_SECRET: JWT_SECRET,
      },
      isReady: (j) => j.msg === "listening",
    }),
  );
  const l = await svc.ready;
  return {
    svc,
    publicUrl: `http://127.0.0.1:${l.publicPort}`,
    internalUrl: `http://127.0.0.1:${l.internalPort}`,
  };
}

async function startNaive() {
  const svc = track(
    startChild({
      name: "naive heartbeat baseline",
      args: [NAIVE_HEARTBEAT_JS],
      env: { ...BASE_ENV, VALKEY_URL, VALKEY_KEY_PREFIX: PREFIX.naive, AUTH_JWT_SECRET: JWT_SECRET },
      isReady: (j) => j.listening === true,
    }),
  );
  const l = await svc.ready;
  return { svc, url: `http://127.0.0.1:${l.port}` };
}

async function scrape(internalUrl) {
  const res = await fetch(`${internalUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return {
    at: performance.now(),
    cpuUs: sample(text, "process_cpu_seconds_total") * 1e6,
    heartbeats: sample(text, "halo_heartbeats_total"),
    fallbacks: [...text.matchAll(/^halo_valkey_fallbacks_total\{[^}]*\} ([^\s]+)/gm)].reduce(
      (n, m) => n + Number(m[1]),
      0,
    ),
  };
}

/** One load worker: resolves once it is ready; go() starts its window. */
async function loadWorker(cfg) {
  const worker = new Worker(WORKER_JS, { workerData: cfg });
  owned.workers.add(worker);
  worker.once("exit", () => owned.workers.delete(worker));
  const messages = [];
  const waiters = [];
  worker.on("message", (m) => {
    const w = waiters.findIndex((x) => x.type === m.type);
    if (w >= 0) waiters.splice(w, 1)[0].resolve(m);
    else messages.push(m);
  });
  const errored = new Promise((_, reject) => worker.once("error", reject));
  const next = (type) => {
    const i = messages.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(messages.splice(i, 1)[0]);
    return Promise.race([new Promise((resolve) => waiters.push({ type, resolve })), errored]);
  };
  await next("ready");
  return { go: () => worker.postMessage("go"), window: () => next("window"), done: () => next("done") };
}

/** CLIENTS closed loops over LOAD_WORKERS worker threads; client k sends bearers[k]. */
async function heartbeatWindow(origin, path, bearers, durationMs, cpu, pgCount) {
  const workers = await Promise.all(
    Array.from({ length: LOAD_WORKERS }, (_, w) => {
      const mine = bearers.filter((_, k) => k % LOAD_WORKERS === w);
      return loadWorker({
        mode: "closed-loop",
        origin,
        path,
        payload: {},
        bearers: mine,
        clients: mine.length,
        connections: mine.length,
        durationMs,
      });
    }),
  );
  const p0 = pgCount ? await pgCount() : Number.NaN;
  const p0At = performance.now();
  const c0 = await cpu();
  for (const w of workers) w.go();
  const windows = await Promise.all(workers.map((w) => w.window()));
  const dones = await Promise.all(workers.map((w) => w.done()));
  const c1 = await cpu();
  const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0);
  const latencies = windows.flatMap((w) => w.latencies);
  const elapsedMs = Math.max(...windows.map((w) => w.elapsedMs));
  const okTotal = sum(dones, "okTotal");
  return {
    p0,
    p0At,
    rps: sum(windows, "ok") / (elapsedMs / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors: sum(windows, "busy") + sum(windows, "other") + sum(windows, "failed"),
    okTotal,
    cpuUsPerOp: (c1.cpuUs - c0.cpuUs) / okTotal,
    accepted: c1.heartbeats - c0.heartbeats,
    fallbacks: c1.fallbacks - c0.fallbacks,
    lastError: windows.map((w) => w.lastError).find(Boolean) ?? "",
  };
}

async function heartbeatSection(pool, admin, r) {
  const bearers = await signedInMitras(pool, CLIENTS, JWT_SECRET);
  const gw = await startGateway();
  log(`gateway up: public ${gw.publicUrl}, internal ${gw.internalUrl}`);
  const naive = await startNaive();
  const gwCpu = () => scrape(gw.internalUrl);
  const naiveCpu = async () => ({
    at: performance.now(),
    cpuUs: (await (await fetch(`${naive.url}/stats`)).json()).cpuUs,
    heartbeats: Number.NaN,
    fallbacks: Number.NaN,
  });
  for (const [name, url] of [
    ["gateway", `${gw.publicUrl}${HEARTBEAT_PATH}`],
    ["naive baseline", `${naive.url}${HEARTBEAT_PATH}`],
    ["naive baseline with EXISTS", `${naive.url}${HEARTBEAT_PATH_WITH_EXISTS}`],
  ]) {
    const res = await fetch(url, {
      method: "POST",
      headers: { authorization: `Bearer ${bearers[0]}`, "content-type": "application/json" },
      body: "{}",
    });
    if (res.status !== 204)
      throw new Error(`${name}: a heartbeat answered ${res.status} ${await res.text()}`);
  }
  const pgCount = () => pgTransactions(admin.pg);

  // Warm-up (JIT, connections); not recorded.
  await heartbeatWindow(gw.publicUrl, HEARTBEAT_PATH, bearers, WARMUP_MS, gwCpu);
  await heartbeatWindow(naive.url, HEARTBEAT_PATH, bearers, WARMUP_MS, naiveCpu);
  await heartbeatWindow(naive.url, HEARTBEAT_PATH_WITH_EXISTS, bearers, WARMUP_MS, naiveCpu);
  // Set-up statements (ours, the gateway's start-up) reach pg_stat_database late: let them land first.
  await sleep(PG_STATS_SETTLE_MS);

  for (let run = 1; run <= RUNS; run++) {
    const busy = await waitForQuiet(QUIET_BELOW, QUIET_WAIT_MS);
    r.busyBeforeRun.push(busy);
    log(
      `heartbeats run ${run}/${RUNS} (machine ${fmt(busy * 100, 0)} % busy before it${busy >= QUIET_BELOW ? ": NOT QUIET" : ""})`,
    );
    const g = await heartbeatWindow(gw.publicUrl, HEARTBEAT_PATH, bearers, HEARTBEAT_MS, gwCpu, pgCount);
    const gEnd = performance.now();
    log(
      `  gateway          ${fmt(g.rps, 0)} req/s, p50 ${fmt(g.p50Ms)} ms, p99 ${fmt(g.p99Ms)} ms, ` +
        `${fmt(g.cpuUsPerOp, 1)} µs CPU/heartbeat; ${fmt(g.accepted, 0)} accepted, ${g.fallbacks} Valkey fallbacks`,
    );
    if (g.errors > 0) log(`    gateway: ${g.errors} errors, last ${g.lastError}`);
    // The baseline touches no Postgres: its windows are part of the gateway's stats settle time.
    const b = await heartbeatWindow(naive.url, HEARTBEAT_PATH, bearers, HEARTBEAT_MS, naiveCpu);
    log(
      `  naive baseline   ${fmt(b.rps, 0)} req/s, p50 ${fmt(b.p50Ms)} ms, p99 ${fmt(b.p99Ms)} ms, ` +
        `${fmt(b.cpuUsPerOp, 1)} µs CPU/heartbeat`,
    );
    if (b.errors > 0) log(`    baseline: ${b.errors} errors, last ${b.lastError}`);
    const e = await heartbeatWindow(naive.url, HEARTBEAT_PATH_WITH_EXISTS, bearers, HEARTBEAT_MS, naiveCpu);
    log(
      `  naive + EXISTS   ${fmt(e.rps, 0)} req/s, p50 ${fmt(e.p50Ms)} ms, p99 ${fmt(e.p99Ms)} ms, ` +
        `${fmt(e.cpuUsPerOp, 1)} µs CPU/heartbeat`,
    );
    if (e.errors > 0) log(`    baseline with EXISTS: ${e.errors} errors, last ${e.lastError}`);
    await sleep(Math.max(0, gEnd + PG_STATS_SETTLE_MS - performance.now()));
    const p1 = await pgCount();
    const hbSpanMs = performance.now() - g.p0At;
    // An idle span as long as the heartbeat span: the gateway's own background (sweeps, timers).
    const i0 = await gwCpu();
    const q0 = p1;
    await sleep(hbSpanMs);
    const i1 = await gwCpu();
    const q1 = await pgCount();
    const tx = {
      heartbeatSpanMs: hbSpanMs,
      inHeartbeatSpan: p1 - g.p0,
      inIdleSpan: q1 - q0,
      heartbeats: g.okTotal,
    };
    tx.perHeartbeat = (tx.inHeartbeatSpan - tx.inIdleSpan) / tx.heartbeats;
    const idleCpuUsPerSecond = (i1.cpuUs - i0.cpuUs) / ((i1.at - i0.at) / 1000);
    log(
      `  Postgres         ${tx.inHeartbeatSpan} transactions over the heartbeat span (${fmt(hbSpanMs / 1000)} s), ` +
        `${tx.inIdleSpan} over an idle span as long → ${fmt(tx.perHeartbeat, 5)} per heartbeat; ` +
        `gateway idle ${fmt(idleCpuUsPerSecond, 0)} µs CPU/s`,
    );
    r.gateway.push(g);
    r.naive.push(b);
    r.naiveExists.push(e);
    r.pgTx.push(tx);
    r.idle.push({ cpuUsPerSecond: idleCpuUsPerSecond });
  }
}

// ---------------------------------------------------------------- report

const med = (runs, key) => median(runs.map((x) => x[key]));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${fmt(a / b, 2)}×` : "-");
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);

function report(r) {
  const out = [];
  const line = (s = "") => out.push(s);
  const s = r.sweepSet;
  line();
  line(
    `availability-bench — median of ${RUNS} run(s); sweeps over ${fmt(s.mitras, 0)} mitras, findAvailableMitras over ` +
      `${fmt(FIND_MITRAS, 0)}, heartbeat windows ${HEARTBEAT_MS / 1000} s with ${CLIENTS} clients; ` +
      `${cpus().length} cores (±20 % run to run)`,
  );
  const noisy = r.busyBeforeRun.filter((b) => b >= QUIET_BELOW);
  if (noisy.length > 0)
    line(
      `WARNING: ${noisy.length} of ${r.busyBeforeRun.length} measured runs (all sections) started with the machine ` +
        `${noisy.map((b) => `${fmt(b * 100, 0)} %`).join(", ")} busy ` +
        "with other work: the figures below are disturbed; rerun on a quiet machine.",
    );
  line();
  line("server CPU per operation (µs, all threads of the server process)");
  line(`  ${padEnd("", 30)}${pad("gateway", 12)}${pad("baseline", 12)}${pad("ratio", 9)}  baseline`);
  const g = med(r.gateway, "cpuUsPerOp");
  const b = med(r.naive, "cpuUsPerOp");
  const be = med(r.naiveExists, "cpuUsPerOp");
  line(
    `  ${padEnd("HTTP heartbeat", 30)}${pad(fmt(g, 1), 12)}${pad(fmt(b, 1), 12)}${pad(ratio(g, b), 9)}` +
      "  bare uWS: JWT verify + SISMEMBER + SET",
  );
  line(
    `  ${padEnd("HTTP heartbeat", 30)}${pad(fmt(g, 1), 12)}${pad(fmt(be, 1), 12)}${pad(ratio(g, be), 9)}` +
      "  the same + revocation EXISTS (like-for-like)",
  );
  line(
    `  ${padEnd(`findAvailableMitras (${fmt(FIND_MITRAS, 0)})`, 30)}${pad(fmt(med(r.find, "cpuUsPerCall"), 0), 12)}` +
      `${pad("", 12)}${pad("", 9)}  (+ ${fmt(med(r.find, "valkeyUsPerCall"), 0)} µs of Valkey CPU per call)`,
  );
  line(`  gateway idle: ${fmt(med(r.idle, "cpuUsPerSecond"), 0)} µs of CPU per second`);
  line(
    `  jsonwebtoken HS256 verify with a KeyObject: ${fmt(r.jwt.keyObject.verifyUs, 0)} µs ` +
      "(in the bench process; the gateway and the baseline verify one token per heartbeat)",
  );
  line();
  line(
    `sweeps over ${fmt(s.mitras, 0)} mitras (${fmt(s.online, 0)} online: ${fmt(s.fresh, 0)} fresh, ` +
      `${fmt(s.stale, 0)} stale), run in process, one after another`,
  );
  line(
    `  ${padEnd("", 20)}${pad("CPU ms", 9)}${pad("Valkey ms", 11)}${pad("wall ms", 10)}${pad("rows changed", 14)}` +
      `${pad("statements", 12)}` +
      `  target: wall < ${SWEEP_TARGET_MS / 1000} s`,
  );
  for (const [name, label] of [
    ["reseed", "reseed"],
    ["autoOffline", "auto-offline"],
    ["heartbeatMirror", "heartbeat mirror"],
  ]) {
    const runs = r.sweeps[name];
    const wall = med(runs, "wallMs");
    line(
      `  ${padEnd(label, 20)}${pad(fmt(med(runs, "cpuMs"), 0), 9)}${pad(fmt(med(runs, "valkeyMs"), 0), 11)}` +
        `${pad(fmt(wall, 0), 10)}${pad(fmt(med(runs, "changed"), 0), 14)}${pad(fmt(med(runs, "pgStatements"), 0), 12)}` +
        `  ${wall < SWEEP_TARGET_MS ? "PASS" : "FAIL"} (runs: ${runs.map((x) => fmt(x.wallMs, 0)).join(", ")} ms)`,
    );
  }
  line(
    "  CPU ms: this process (the gateway's side); Valkey ms: the whole Valkey server; wall includes Postgres; " +
      "statements: sent to Postgres, BEGIN and COMMIT included.",
  );
  line();
  line(
    `findAvailableMitras over ${fmt(FIND_MITRAS, 0)} online mitras (${FIND_CALLS} calls per run, one at a time)`,
  );
  line(
    `  CPU ${fmt(med(r.find, "cpuUsPerCall"), 0)} µs/call, p50 ${fmt(med(r.find, "p50Ms"), 2)} ms, ` +
      `p99 ${fmt(med(r.find, "p99Ms"), 2)} ms, ${fmt(med(r.find, "found"), 0)} found per call`,
  );
  line();
  line(
    `HTTP heartbeats (closed loop, ${CLIENTS} clients on ${LOAD_WORKERS} worker threads, one gateway process)`,
  );
  line(
    `  ${padEnd("", 30)}${pad("req/s", 9)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("CPU µs/op", 11)}` +
      `${pad("errors", 8)}${pad("req/s ratio", 13)}`,
  );
  const row = (name, runs, vs) =>
    line(
      `  ${padEnd(name, 30)}${pad(fmt(med(runs, "rps"), 0), 9)}${pad(fmt(med(runs, "p50Ms"), 2), 9)}` +
        `${pad(fmt(med(runs, "p99Ms"), 2), 9)}${pad(fmt(med(runs, "cpuUsPerOp"), 1), 11)}` +
        `${pad(
          runs.reduce((n, x) => n + x.errors, 0),
          8,
        )}${pad(vs ? ratio(med(runs, "rps"), med(vs, "rps")) : "", 13)}`,
    );
  row("gateway", r.gateway, r.naive);
  row("naive baseline", r.naive, null);
  row("naive baseline + EXISTS", r.naiveExists, null);
  const tput = med(r.gateway, "rps") / med(r.naive, "rps");
  line(
    `  target: gateway throughput ≥ ${THROUGHPUT_TARGET}× the bare route → ${tput >= THROUGHPUT_TARGET ? "PASS" : "FAIL"} ` +
      `(${fmt(tput, 2)}×; CPU per heartbeat ${ratio(g, b)} the baseline's)`,
  );
  line(
    `  against the baseline that also checks revocation (EXISTS, as the gateway does): throughput ` +
      `${ratio(med(r.gateway, "rps"), med(r.naiveExists, "rps"))}, CPU per heartbeat ${ratio(g, be)}`,
  );
  line(
    "  errors are summed over all runs; req/s ratio is against the naive baseline (the issue's bare route).",
  );
  line();
  const tx = r.pgTx;
  line("Postgres transactions in the bench database (pg_stat_database xact_commit + xact_rollback)");
  line(
    `  heartbeat spans: ${tx.map((x) => x.inHeartbeatSpan).join(", ")}; idle spans as long: ` +
      `${tx.map((x) => x.inIdleSpan).join(", ")}; heartbeats: ${tx.map((x) => fmt(x.heartbeats, 0)).join(", ")}`,
  );
  line(
    `  → ${fmt(med(tx, "perHeartbeat"), 5)} transactions per heartbeat (median; expected ≈ 0), ` +
      `${r.gateway.reduce((n, x) => n + x.fallbacks, 0)} Valkey fallbacks`,
  );
  return out.join("\n");
}

// ---------------------------------------------------------------- main

async function main() {
  if (!existsSync(MAIN_JS)) throw new Error("dist/main.js is missing: run `npm run build` first");
  const started = Date.now();
  const dist = await loadDist();
  const jwtCost = jwtKeyCost();
  log(`availability-bench: database ${DB_NAME}, Valkey ${VALKEY_URL} prefix ${KEY_ROOT}`);
  await createDatabase();
  await dist.migrate(DATABASE_URL);
  const pool = dist.createPool(DATABASE_URL, { applicationName: "halo-bench" });
  owned.closers.push(() => pool.end());
  const v = await connectValkey(dist, "halo-bench");
  // Readers of the counters, outside the work they measure (Postgres stats from another database).
  const admin = { pg: new pg.Client({ connectionString: PG_ADMIN_URL }), redis: new Redis(VALKEY_URL) };
  await admin.pg.connect();
  owned.closers.push(
    () => admin.pg.end(),
    async () => admin.redis.disconnect(),
  );

  const r = {
    jwt: jwtCost,
    busyBeforeRun: [],
    sweepSet: null,
    sweeps: { reseed: [], autoOffline: [], heartbeatMirror: [] },
    find: [],
    gateway: [],
    naive: [],
    naiveExists: [],
    pgTx: [],
    idle: [],
  };
  await sweepsSection(dist, pool, v, admin, r);
  await findSection(dist, pool, v, admin, r);
  // The HTTP section starts from an empty mitras table, so the gateway's start-up reseed and its
  // cron sweeps have only the signed-in mitras to look at.
  await pool.query("TRUNCATE mitras CASCADE");
  await deleteValkeyKeys(PREFIX.sweeps);
  await deleteValkeyKeys(PREFIX.find);
  await heartbeatSection(pool, admin, r);

  const table = report(r);
  log(table);
  log(`\n(total ${fmt((Date.now() - started) / 1000, 0)} s)`);
  writeResults("availability-bench", {
    runs: RUNS,
    clients: CLIENTS,
    loadWorkers: LOAD_WORKERS,
    heartbeatMs: HEARTBEAT_MS,
    results: r,
    table,
  });
}

let exitCode = 0;
let cleaning = false;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    if (cleaning) return;
    cleaning = true;
    log(`\n${signal}: stopping services, dropping ${DB_NAME}`);
    await cleanup();
    process.exit(130);
  });
}
try {
  await main();
} catch (err) {
  log(`availability-bench failed: ${err.stack ?? err}`);
  exitCode = 1;
} finally {
  if (!cleaning) {
    cleaning = true;
    await cleanup();
  }
}
process.exit(exitCode);
