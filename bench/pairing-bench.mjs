/**
 * Pairing benchmark (see bench/README.md). Against a database and a Valkey
 * key prefix of its own:
 *
 *   A. picking a batch of 5 among 10,000 online mitras, in this process from
 *      dist/: AvailablePicker.pick (the available sorted set, one Lua call)
 *      against today's scan (Availability.findAvailableMitras, sorted by
 *      capacity then heartbeat, first 5), interleaved in every run; with
 *      Valkey round trips and commands per call;
 *   B. pairing end to end with 10,000 online mitras, each with a socket, over
 *      3 gateway processes (dist/main.js): pairing.request → the first
 *      pairing.offer at a mitra, and pairing.accept → pairing.matched at the
 *      customer, as the clients see them; the winner then ends the session
 *      (session.end) so the customer may ask again and the mitra is available
 *      again. Client sockets live in child processes (lib/frame-client.mjs).
 *
 *   npm run build && node bench/pairing-bench.mjs
 *
 * BENCH_RUNS (3), BENCH_PAIR_PARTS (pick,e2e), BENCH_PAIR_MITRAS (10000),
 * BENCH_PAIR_PICKS (5000), BENCH_PAIR_SCANS (100), BENCH_PAIR_PG_PICKS (200),
 * BENCH_PAIR_REQUESTS (300), BENCH_PAIR_LANES (1), BENCH_PAIR_GATEWAYS (3),
 * BENCH_PAIR_CLIENTS (3), BENCH_PAIR_CUSTOMERS (30), BENCH_PG_ADMIN_URL,
 * BENCH_VALKEY_URL, BENCH_QUIET_WAIT_SECONDS override defaults.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import Redis from "ioredis";
import pg from "pg";
import { runInterruptible } from "./lib/bench-lifecycle.mjs";
import { BASE_ENV } from "./lib/child-service.mjs";
import { hrNow, startFrameClient } from "./lib/frame-clients.mjs";
import { metricSum, metricsText, startGateways } from "./lib/gateway-procs.mjs";
import { waitForQuiet } from "./lib/machine-load.mjs";
import { busyShare, cpuTimes, waitForQuietExcept } from "./lib/quiet-except.mjs";
import { writeResults } from "./lib/results-file.mjs";
import { createDatabase, deleteValkeyKeys, dropDatabase, scratchDatabaseUrl } from "./lib/scratch-stores.mjs";
import { signedInUsers } from "./lib/signed-in-users.mjs";
import { fmt, median, percentile } from "./lib/stats.mjs";

const env = process.env;
const int = (v, d) => (v && /^\d+$/.test(v) ? Number(v) : d);
const RUNS = int(env.BENCH_RUNS, 3);
const PARTS = (env.BENCH_PAIR_PARTS ?? "pick,e2e").split(",").map((x) => x.trim());
const MITRAS = int(env.BENCH_PAIR_MITRAS, 10_000);
const PICKS = int(env.BENCH_PAIR_PICKS, 5000);
const SCANS = int(env.BENCH_PAIR_SCANS, 100);
const PG_PICKS = int(env.BENCH_PAIR_PG_PICKS, 200);
const REQUESTS = int(env.BENCH_PAIR_REQUESTS, 300);
const LANES = Math.max(1, int(env.BENCH_PAIR_LANES, 1));
const GATEWAYS = Math.max(1, int(env.BENCH_PAIR_GATEWAYS, 3));
const CLIENTS = Math.max(1, int(env.BENCH_PAIR_CLIENTS, 3));
const CUSTOMERS = Math.max(LANES, int(env.BENCH_PAIR_CUSTOMERS, 30));
/** pairing_blast_size (its default, app_config): the batch part A picks and part B offers. */
const BATCH = 5;
/** The gateway's default HEARTBEAT_STALE_SECONDS (part A's picker and scan use the same). */
const STALE_SECONDS = 90;
const WARMUP_PICKS = 200;
const WARMUP_SCANS = 10;
const WARMUP_CYCLES = 30;
/** After each part-B run: the gateways' CPU over this long with no pairing (sockets and heartbeats only). */
const IDLE_MS = 5000;
const OFFER_WAIT_MS = 2000;
const MATCH_WAIT_MS = 2000;
const CONNECT_CONCURRENCY = 50;
const MSET_CHUNK = 5000;
/** Targets (the issue's). */
const PICK_P99_TARGET_MS = 5;
const E2E_P99_TARGET_MS = 25;
const QUIET_BELOW = 0.15;
const QUIET_WAIT_MS = int(env.BENCH_QUIET_WAIT_SECONDS, 20) * 1000;
const PG_ADMIN_URL = env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const VALKEY_URL = env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const MAIN_JS = path("../dist/main.js");
const DB_NAME = `halo_bench_pair_${process.pid}`;
const KEY_ROOT = `halo_bench_pair_${process.pid}:`;
const PREFIX = { pick: `${KEY_ROOT}pick:`, e2e: `${KEY_ROOT}gw:` };
const JWT_SECRET = randomBytes(36).toString("base64url");
const DATABASE_URL = scratchDatabaseUrl(PG_ADMIN_URL, DB_NAME);
const SOCKETS = MITRAS + CUSTOMERS;
const GATEWAY_FDS = Math.ceil(SOCKETS / GATEWAYS) + 256;
const CLIENT_FDS = Math.ceil(SOCKETS / CLIENTS) + 256;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);
const cpuUs = () => {
  const c = process.cpuUsage();
  return c.user + c.system;
};
/** The logger the gateway's modules get in part A: warnings and errors printed, the rest dropped. */
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

// ---------------------------------------------------------------- resources

const owned = { children: new Set(), clients: [], dbCreated: false, closers: [] };

function track(svc) {
  owned.children.add(svc);
  svc.child.once("exit", () => owned.children.delete(svc));
  return svc;
}

async function cleanup() {
  for (const c of owned.clients.splice(0)) c.kill();
  for (const svc of [...owned.children]) await svc.stop("SIGTERM", 5000).catch(() => {});
  for (const close of owned.closers.splice(0).reverse()) await close().catch(() => {});
  if (owned.dbCreated)
    await dropDatabase(PG_ADMIN_URL, DB_NAME).catch((err) =>
      log(`could not drop ${DB_NAME}: ${err.message}`),
    );
  owned.dbCreated = false;
  await deleteValkeyKeys(VALKEY_URL, KEY_ROOT).catch((err) =>
    log(`could not delete ${KEY_ROOT}* keys: ${err.message}`),
  );
}

/**
 * Waits for a quiet machine before a run. With `ownPids` (part B: the gateways and client processes
 * stay up between runs), their own CPU is not counted as the machine's business.
 */
async function quiet(busyList, label, ownPids) {
  const busy = ownPids
    ? await waitForQuietExcept(ownPids, QUIET_BELOW, QUIET_WAIT_MS)
    : await waitForQuiet(QUIET_BELOW, QUIET_WAIT_MS);
  busyList.push(busy);
  log(
    `${label} (machine ${fmt(busy * 100, 0)} % busy${ownPids ? " besides the bench's own processes" : ""} ` +
      `before it${busy >= QUIET_BELOW ? ": NOT QUIET" : ""})`,
  );
}

/** Valkey's own CPU (user + system, µs) from INFO: the whole server, other clients of it included. */
async function valkeyCpuUs(redis) {
  const info = await redis.info("cpu");
  const field = (name) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN);
  return (field("used_cpu_user") + field("used_cpu_sys")) * 1e6;
}

// ---------------------------------------------------------------- A. the pick, in process

async function loadDist() {
  const [picker, availability, mitraMirror, reseed, keys, metrics, pool, migrate, client] = await Promise.all(
    [
      import("../dist/pairing/available-picker.js"),
      import("../dist/mirror/availability.js"),
      import("../dist/mirror/mitra-mirror.js"),
      import("../dist/sweeps/reseed.js"),
      import("../dist/valkey/keys.js"),
      import("../dist/metrics.js"),
      import("../dist/db/pool.js"),
      import("../dist/db/migrate.js"),
      import("../dist/valkey/client.js"),
    ],
  );
  return {
    AvailablePicker: picker.AvailablePicker,
    Availability: availability.Availability,
    MitraMirror: mitraMirror.MitraMirror,
    Reseed: reseed.Reseed,
    createKeys: keys.createKeys,
    createMetrics: metrics.createMetrics,
    createPool: pool.createPool,
    migrate: migrate.migrate,
    createValkeyClient: client.createValkeyClient,
  };
}

/**
 * Counts what goes to Valkey over this client: commands (every sendCommand;
 * a pipeline's commands one by one, a script's EVALSHA and any EVAL retry)
 * and round trips (writes to the socket: a pipeline is one write, and nothing
 * here waits on a reply it did not write for). No auto-pipelining on the
 * gateway's client, so one write is one round trip.
 */
function countValkey(v) {
  const counter = { commands: 0, writes: 0 };
  const sendCommand = v.sendCommand.bind(v);
  v.sendCommand = (...args) => {
    counter.commands++;
    return sendCommand(...args);
  };
  const stream = v.stream;
  const write = stream.write.bind(stream);
  stream.write = (...args) => {
    counter.writes++;
    return write(...args);
  };
  return counter;
}

async function timedCalls(n, fn, counter, redisAdmin) {
  const latencies = new Float64Array(n);
  let short = 0;
  const c0 = cpuUs();
  const k0 = await valkeyCpuUs(redisAdmin);
  const w0 = counter.writes;
  const q0 = counter.commands;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const picked = await fn();
    latencies[i] = performance.now() - t;
    if (picked.length !== BATCH || new Set(picked).size !== BATCH) short++;
  }
  const c1 = cpuUs();
  const writes = counter.writes - w0;
  const commands = counter.commands - q0;
  const k1 = await valkeyCpuUs(redisAdmin);
  return {
    calls: n,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    cpuUsPerCall: (c1 - c0) / n,
    valkeyUsPerCall: (k1 - k0) / n,
    roundTripsPerCall: writes / n,
    commandsPerCall: commands / n,
    short,
  };
}

async function partPick(r) {
  const dist = await loadDist();
  const pool = dist.createPool(DATABASE_URL, { applicationName: "halo-bench-pair" });
  owned.closers.push(() => pool.end());
  const v = dist.createValkeyClient({ kind: "standalone", url: VALKEY_URL }, "halo-bench-pair");
  owned.closers.push(async () => v.disconnect());
  if (v.status !== "ready")
    await new Promise((resolve, reject) => {
      v.once("ready", resolve);
      v.once("error", reject);
    });
  const redisAdmin = new Redis(VALKEY_URL);
  owned.closers.push(async () => redisAdmin.disconnect());

  const keys = dist.createKeys({ prefix: PREFIX.pick, cluster: false });
  const metrics = dist.createMetrics();
  const now = () => new Date();
  const t0 = performance.now();
  const { rows } = await pool.query(
    `INSERT INTO mitras (phone, display_name, is_online, last_heartbeat_at)
     SELECT '+626' || lpad(g::text, 10, '0'), 'Bench mitra ' || g, true, now()
     FROM generate_series(1, $1::int) AS g RETURNING id`,
    [MITRAS],
  );
  const ids = rows.map((x) => x.id);
  await pool.query("ANALYZE mitras");
  // Valkey from Postgres as the gateway seeds it at start: the reseed also builds mitras:available.
  const mirror = new dist.MitraMirror(v, keys, benchLogger, metrics);
  const reseed = new dist.Reseed({ pool, valkey: v, keys, now, mirror });
  const seeded = await reseed.run();
  const available = await v.zcard(keys.mitrasAvailable);
  log(
    `  seeded ${fmt(MITRAS, 0)} online mitras (Postgres, then the reseed from dist/) in ` +
      `${fmt((performance.now() - t0) / 1000)} s: reseed ${seeded.outcome}, mitras:available holds ${fmt(available, 0)}`,
  );
  if (available !== MITRAS) throw new Error(`mitras:available holds ${available}, not ${MITRAS}`);

  const picker = new dist.AvailablePicker({
    pool,
    valkey: v,
    keys,
    log: benchLogger,
    metrics,
    now,
    staleSeconds: STALE_SECONDS,
    verificationRequired: false,
  });
  const pgPicker = new dist.AvailablePicker({
    pool,
    valkey: null,
    keys,
    log: benchLogger,
    metrics,
    now,
    staleSeconds: STALE_SECONDS,
    verificationRequired: false,
  });
  const availability = new dist.Availability({
    pool,
    valkey: v,
    keys,
    metrics,
    now,
    staleSeconds: STALE_SECONDS,
  });
  const pick = () => picker.pick(BATCH, []);
  const pgPick = () => pgPicker.pick(BATCH, []);
  // Today's scan, and the order pairing asks for on top of it: least loaded, then oldest heartbeat.
  const scan = async () => {
    const all = await availability.findAvailableMitras();
    all.sort(
      (a, b) =>
        a.capacity - b.capacity ||
        (a.heartbeatAt < b.heartbeatAt ? -1 : a.heartbeatAt > b.heartbeatAt ? 1 : 0),
    );
    return all.slice(0, BATCH).map((m) => m.id);
  };
  /** Every run starts with every heartbeat fresh, in Valkey and in Postgres (the fallback reads it). */
  const refresh = async () => {
    const iso = new Date().toISOString();
    const pairs = ids.flatMap((id) => [keys.mitraHeartbeat(id), iso]);
    for (let i = 0; i < pairs.length; i += MSET_CHUNK * 2) await v.mset(pairs.slice(i, i + MSET_CHUNK * 2));
    await pool.query("UPDATE mitras SET last_heartbeat_at = now()");
  };
  const counter = countValkey(v);
  await refresh();
  for (let i = 0; i < WARMUP_PICKS; i++) await pick();
  for (let i = 0; i < WARMUP_SCANS; i++) await scan();
  for (let i = 0; i < WARMUP_SCANS; i++) await pgPick();

  for (let run = 1; run <= RUNS; run++) {
    await refresh();
    await quiet(r.busyBeforeRun, `pick run ${run}/${RUNS}`);
    const row = (name, x) =>
      log(
        `  ${name.padEnd(28)} p50 ${fmt(x.p50Ms, 3)} ms, p99 ${fmt(x.p99Ms, 3)} ms, max ${fmt(x.maxMs, 2)} ms; ` +
          `${fmt(x.cpuUsPerCall, 0)} µs CPU/call here, ${fmt(x.valkeyUsPerCall, 0)} µs Valkey CPU/call; ` +
          `${fmt(x.roundTripsPerCall, 2)} round trips, ${fmt(x.commandsPerCall, 2)} commands per call` +
          (x.short > 0 ? `; ${x.short} calls picked fewer than ${BATCH}` : ""),
      );
    const p = await timedCalls(PICKS, pick, counter, redisAdmin);
    row("AvailablePicker.pick", p);
    const s = await timedCalls(SCANS, scan, counter, redisAdmin);
    row("scan + sort + first 5", s);
    const g = await timedCalls(PG_PICKS, pgPick, counter, redisAdmin);
    row("pick, Postgres fallback", g);
    r.pick.push(p);
    r.scan.push(s);
    r.pgPick.push(g);
  }
  await pool.query("TRUNCATE mitras CASCADE");
  await deleteValkeyKeys(VALKEY_URL, PREFIX.pick);
}

// ---------------------------------------------------------------- B. end to end over 3 gateways

/** requestId → what the clients saw of it (filled by the client processes' events). */
const seen = new Map();
const entry = (requestId) => {
  let e = seen.get(requestId);
  if (!e) {
    e = { offers: [], customerMatchedAt: Number.NaN, taken: 0, failed: null, waiters: new Set() };
    seen.set(requestId, e);
  }
  return e;
};

function onEvent(_k, m) {
  if (!m.requestId) return;
  const e = entry(m.requestId);
  if (m.type === "pairing.offer") e.offers.push({ key: m.key, t: m.t });
  else if (m.type === "pairing.matched" && m.key[0] === "c") e.customerMatchedAt = m.t;
  else if (m.type === "pairing.taken") e.taken++;
  else if (m.type === "pairing.failed") e.failed = m;
  for (const w of e.waiters) w();
}

/** Checkpoints Postgres has started (timed and requested: other databases' DROP DATABASE asks for one). */
async function checkpoints(pool) {
  const { rows } = await pool.query(
    "SELECT (checkpoints_timed + checkpoints_req)::bigint AS n FROM pg_stat_bgwriter",
  );
  return Number(rows[0].n);
}

const bump = (counts, key) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** Resolves once `done(e)` holds for the request's entry, or after timeoutMs. */
function waitFor(e, done, timeoutMs) {
  if (done(e)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const check = () => {
      if (!done(e)) return;
      e.waiters.delete(check);
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      e.waiters.delete(check);
      resolve(false);
    }, timeoutMs);
    e.waiters.add(check);
  });
}

async function partE2e(pool, r) {
  const t0 = performance.now();
  const mitras = await signedInUsers(pool, "mitra", MITRAS, JWT_SECRET, { online: true, phonePrefix: "5" });
  const customers = await signedInUsers(pool, "customer", CUSTOMERS, JWT_SECRET);
  log(
    `  ${fmt(MITRAS, 0)} online mitras, ${CUSTOMERS} customers in ${fmt((performance.now() - t0) / 1000)} s`,
  );
  const gws = await startGateways(GATEWAYS, {
    mainJs: MAIN_JS,
    fdLimit: GATEWAY_FDS + 4096,
    needFds: GATEWAY_FDS,
    track,
    env: {
      ...BASE_ENV,
      DATABASE_URL,
      VALKEY_URL,
      VALKEY_KEY_PREFIX: PREFIX.e2e,
      AUTH_JWT_SECRET: JWT_SECRET,
    },
  });
  log(`  ${GATEWAYS} gateways: ${gws.map((g) => g.wsUrl).join(", ")}`);
  const clients = Array.from({ length: CLIENTS }, (_, k) =>
    startFrameClient(k, { fdLimit: CLIENT_FDS + 4096, env: BASE_ENV, onEvent }),
  );
  owned.clients.push(...clients);
  await Promise.all(clients.map((c) => c.ready));

  // Mitra i on gateway i % G, in client process ⌊i·C/n⌋ (every client process talks to every gateway);
  // customer j on gateway j % G, in client process j % C.
  const sockets = [
    ...mitras.map((m, i) => ({
      key: `m${i}`,
      token: m.token,
      gateway: i % GATEWAYS,
      client: Math.floor((i * CLIENTS) / MITRAS),
    })),
    ...customers.map((c, j) => ({
      key: `c${j}`,
      token: c.token,
      gateway: j % GATEWAYS,
      client: j % CLIENTS,
    })),
  ];
  const byKey = new Map(sockets.map((s) => [s.key, s]));
  const tc = performance.now();
  const replies = await Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "connect",
        sockets: sockets
          .filter((s) => s.client === c.k)
          .map((s) => ({ key: s.key, token: s.token, url: gws[s.gateway].wsUrl })),
        localAddress: c.localAddress,
        concurrency: CONNECT_CONCURRENCY,
      }),
    ),
  );
  const failed = replies.reduce((n, x) => n + x.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} sockets did not open (${replies.find((x) => x.firstError)?.firstError})`);
  const hbInterval = replies[0].heartbeatIntervalSeconds * 1000;
  log(
    `  ${fmt(sockets.length, 0)} sockets open in ${fmt((performance.now() - tc) / 1000)} s; mitras heartbeat ` +
      `every ${hbInterval / 1000} s as hello asks (${fmt(MITRAS / (hbInterval / 1000), 0)} heartbeats/s in all)`,
  );
  // Every mitra socket heartbeats as a real app does, spread evenly: the mitras stay fresh however long this runs.
  const hbStart = hrNow() + 500;
  await Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "heartbeats",
        keys: sockets.filter((s) => s.client === c.k && s.key[0] === "m").map((s) => s.key),
        startAt: hbStart + (c.k / CLIENTS) * (hbInterval / MITRAS),
        intervalMs: hbInterval,
      }),
    ),
  );
  await Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "watch",
        types: ["pairing.offer", "pairing.matched", "pairing.taken", "pairing.failed"],
      }),
    ),
  );
  const send = (key, frame) => clients[byKey.get(key).client].call({ cmd: "send", key, frame });

  /** One request, offered, accepted by the mitra whose offer arrived first, matched, then ended by the winner. */
  async function cycle(customerKey, out) {
    const req = await send(customerKey, { type: "pairing.request" });
    if (req.reply?.type !== "ack") {
      bump(out.errors, `request ${req.reply?.code ?? "timeout"}`);
      if (req.reply?.code === "SESSION_OPEN") await sleep(50);
      return;
    }
    const requestId = req.reply.requestId;
    const e = entry(requestId);
    await waitFor(e, (x) => x.offers.length >= BATCH || x.failed !== null, OFFER_WAIT_MS);
    if (e.offers.length === 0) {
      bump(out.errors, `no offer (${e.failed?.reason ?? "timeout"})`);
      return;
    }
    const offers = [...e.offers].sort((a, b) => a.t - b.t);
    let acc = null;
    let winner = null;
    for (const o of offers) {
      const a = await send(o.key, { type: "pairing.accept", requestId });
      if (a.reply?.type === "ack") {
        acc = a;
        winner = o;
        break;
      }
      bump(out.acceptRefused, a.reply?.code ?? "timeout");
    }
    if (!acc) {
      bump(out.errors, "no accept won");
      await send(customerKey, { type: "pairing.cancel", requestId });
      return;
    }
    const matched = await waitFor(e, (x) => Number.isFinite(x.customerMatchedAt), MATCH_WAIT_MS);
    const end = await send(winner.key, { type: "session.end", sessionId: acc.reply.sessionId });
    if (end.reply?.type !== "ack") bump(out.errors, `end ${end.reply?.code ?? "timeout"}`);
    const cGw = byKey.get(customerKey).gateway;
    out.cycles.push({
      requestToFirstOffer: offers[0].t - req.tSend,
      requestToLastOffer: offers[offers.length - 1].t - req.tSend,
      requestAck: req.tReply - req.tSend,
      offers: offers.length,
      offersOnOtherGateway: offers.filter((o) => byKey.get(o.key).gateway !== cGw).length,
      acceptToMatched: matched ? e.customerMatchedAt - acc.tSend : Number.NaN,
      acceptAck: acc.tReply - acc.tSend,
      endAck: end.tReply - end.tSend,
      winnerOnOtherGateway: byKey.get(winner.key).gateway !== cGw,
    });
  }

  /** `n` cycles over LANES lanes, each lane with its own customers in turn. */
  async function cycles(n, out) {
    let started = 0;
    await Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        const mine = customers.map((_, j) => `c${j}`).filter((_, j) => j % LANES === lane);
        let turn = 0;
        while (started < n) {
          started++;
          await cycle(mine[turn++ % mine.length], out);
        }
      }),
    );
  }

  const gwCpu = () => gws.reduce((n, g) => n + g.cpuUs(), 0);
  const ownPids = [process.pid, ...gws.map((g) => g.pid), ...clients.map((c) => c.pid)];
  const counters = async () => {
    const texts = await Promise.all(gws.map((g) => metricsText(g.internalUrl)));
    const sum = (name, labels) => texts.reduce((n, t) => n + metricSum(t, name, labels), 0);
    return {
      offerSum: sum("halo_pairing_step_seconds_sum", 'step="request_to_offer"'),
      offerCount: sum("halo_pairing_step_seconds_count", 'step="request_to_offer"'),
      matchSum: sum("halo_pairing_step_seconds_sum", 'step="accept_to_match"'),
      matchCount: sum("halo_pairing_step_seconds_count", 'step="accept_to_match"'),
      fanoutSum: sum("halo_fanout_latency_seconds_sum"),
      fanoutCount: sum("halo_fanout_latency_seconds_count"),
      fallbacks: sum("halo_valkey_fallbacks_total"),
      rateLimited: sum("halo_ws_rate_limited_total"),
    };
  };

  const warm = { cycles: [], errors: {}, acceptRefused: {} };
  await cycles(WARMUP_CYCLES, warm);
  log(
    `  warm-up: ${warm.cycles.length} cycles${Object.keys(warm.errors).length ? ` (${JSON.stringify(warm.errors)})` : ""}`,
  );

  for (let run = 1; run <= RUNS; run++) {
    await quiet(r.busyBeforeRun, `end-to-end run ${run}/${RUNS}`, ownPids);
    const out = { cycles: [], errors: {}, acceptRefused: {} };
    const m0 = await counters();
    await Promise.all(clients.map((c) => c.call({ cmd: "hb-mark" })));
    const k0 = await checkpoints(pool);
    const busy0 = cpuTimes();
    const c0 = gwCpu();
    const w0 = performance.now();
    await cycles(REQUESTS, out);
    const windowMs = performance.now() - w0;
    const c1 = gwCpu();
    const busy1 = cpuTimes();
    const k1 = await checkpoints(pool);
    const hb = await Promise.all(clients.map((c) => c.call({ cmd: "hb-mark" })));
    // The same gateways, sockets and heartbeats with no pairing: what the window's CPU holds besides it.
    const i0 = gwCpu();
    const iAt = performance.now();
    await sleep(IDLE_MS);
    const idleUsPerSecond = (gwCpu() - i0) / ((performance.now() - iAt) / 1000);
    const m1 = await counters();
    const hbLat = hb.flatMap((x) => x.latencies);
    const pick = (k) => out.cycles.map((x) => x[k]).filter(Number.isFinite);
    const stat = (xs) => ({
      p50: percentile(xs, 50),
      p95: percentile(xs, 95),
      p99: percentile(xs, 99),
      max: percentile(xs, 100),
    });
    const n = out.cycles.length;
    const x = {
      cycles: n,
      windowMs,
      requestToFirstOffer: stat(pick("requestToFirstOffer")),
      requestToLastOffer: stat(pick("requestToLastOffer")),
      requestAck: stat(pick("requestAck")),
      acceptToMatched: stat(pick("acceptToMatched")),
      acceptAck: stat(pick("acceptAck")),
      endAck: stat(pick("endAck")),
      heartbeat: stat(hbLat),
      heartbeats: hbLat.length,
      heartbeatErrors: hb.reduce((k, y) => k + y.errors + y.unanswered, 0),
      missedMatched: n - pick("acceptToMatched").length,
      offersPerRequest: median(pick("offers")),
      offersOnOtherGateway:
        pick("offersOnOtherGateway").reduce((a, b) => a + b, 0) / pick("offers").reduce((a, b) => a + b, 0),
      winnerOnOtherGateway: out.cycles.filter((y) => y.winnerOnOtherGateway).length / n,
      cpuUsPerCycle: (c1 - c0) / n,
      machineBusy: busyShare(busy0, busy1),
      checkpoints: k1 - k0,
      idleUsPerSecond,
      netCpuUsPerCycle: (c1 - c0 - idleUsPerSecond * (windowMs / 1000)) / n,
      serverOfferMs: ((m1.offerSum - m0.offerSum) / (m1.offerCount - m0.offerCount)) * 1000,
      serverMatchMs: ((m1.matchSum - m0.matchSum) / (m1.matchCount - m0.matchCount)) * 1000,
      fanoutMs: ((m1.fanoutSum - m0.fanoutSum) / (m1.fanoutCount - m0.fanoutCount)) * 1000,
      fallbacks: m1.fallbacks - m0.fallbacks,
      rateLimited: m1.rateLimited - m0.rateLimited,
      errors: out.errors,
      acceptRefused: out.acceptRefused,
    };
    r.e2e.push(x);
    log(
      `  ${n} cycles in ${fmt(windowMs / 1000)} s: request → first offer p50 ${fmt(x.requestToFirstOffer.p50, 2)} / ` +
        `p99 ${fmt(x.requestToFirstOffer.p99, 2)} ms; accept → matched p50 ${fmt(x.acceptToMatched.p50, 2)} / ` +
        `p99 ${fmt(x.acceptToMatched.p99, 2)} ms; heartbeat ack p50 ${fmt(x.heartbeat.p50, 2)} / p99 ` +
        `${fmt(x.heartbeat.p99, 2)} ms (${fmt(x.heartbeats, 0)}); gateways ${fmt(x.cpuUsPerCycle, 0)} µs CPU/cycle ` +
        `(${fmt(x.netCpuUsPerCycle, 0)} net of idle ${fmt(idleUsPerSecond, 0)} µs/s)` +
        (Object.keys(x.errors).length ? `; errors ${JSON.stringify(x.errors)}` : "") +
        (Object.keys(x.acceptRefused).length ? `; accepts refused ${JSON.stringify(x.acceptRefused)}` : "") +
        (x.missedMatched ? `; ${x.missedMatched} pairing.matched not seen` : ""),
    );
  }
  await Promise.all(clients.map((c) => c.call({ cmd: "close-all" })));
  for (const g of gws) await g.svc.stop();
}

// ---------------------------------------------------------------- report

const med = (runs, key) => median(runs.map((x) => x[key]));
const medOf = (runs, key, p) => median(runs.map((x) => x[key][p]));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : Number.NaN);
const times = (x) => (Number.isFinite(x) ? `${x < 0.1 ? fmt(x, 4) : fmt(x, 2)}×` : "-");
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);
const verdict = (ok) => (ok ? "PASS" : "FAIL");

function report(r) {
  const out = [];
  const line = (s = "") => out.push(s);
  line();
  line(
    `pairing-bench — median of ${RUNS} run(s); ${fmt(MITRAS, 0)} online mitras; batch ${BATCH}; ` +
      `${cpus().length} cores (±20 % run to run)`,
  );
  const noisy = r.busyBeforeRun.filter((b) => b >= QUIET_BELOW);
  if (noisy.length > 0)
    line(
      `WARNING: ${noisy.length} of ${r.busyBeforeRun.length} measured runs started with the machine ` +
        `${noisy.map((b) => `${fmt(b * 100, 0)} %`).join(", ")} busy ` +
        "with other work: the figures below are disturbed; rerun on a quiet machine.",
    );
  if (r.pick.length > 0) {
    line();
    line(
      `A. picking a batch of ${BATCH} among ${fmt(MITRAS, 0)} online mitras, in process, one call at a time ` +
        `(${fmt(PICKS, 0)} picks, ${SCANS} scans, ${PG_PICKS} Postgres picks per run)`,
    );
    line(
      `  ${padEnd("", 36)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("max ms", 9)}${pad("CPU µs", 9)}` +
        `${pad("Valkey µs", 11)}${pad("round trips", 13)}${pad("commands", 10)}`,
    );
    const row = (name, runs) =>
      line(
        `  ${padEnd(name, 36)}${pad(fmt(med(runs, "p50Ms"), 3), 9)}${pad(fmt(med(runs, "p99Ms"), 3), 9)}` +
          `${pad(fmt(med(runs, "maxMs"), 2), 9)}${pad(fmt(med(runs, "cpuUsPerCall"), 0), 9)}` +
          `${pad(fmt(med(runs, "valkeyUsPerCall"), 0), 11)}${pad(fmt(med(runs, "roundTripsPerCall"), 2), 13)}` +
          `${pad(fmt(med(runs, "commandsPerCall"), 2), 10)}`,
      );
    row("AvailablePicker.pick (Lua)", r.pick);
    row("baseline: scan + sort + first 5", r.scan);
    row("AvailablePicker.pick, Postgres path", r.pgPick);
    const pp99 = med(r.pick, "p99Ms");
    line(
      `  new pick / today's scan: p50 ${times(ratio(med(r.pick, "p50Ms"), med(r.scan, "p50Ms")))}, p99 ` +
        `${times(ratio(pp99, med(r.scan, "p99Ms")))}, CPU ${times(ratio(med(r.pick, "cpuUsPerCall"), med(r.scan, "cpuUsPerCall")))}` +
        ` (runs p99: ${r.pick.map((x) => fmt(x.p99Ms, 3)).join(", ")} vs ${r.scan.map((x) => fmt(x.p99Ms, 1)).join(", ")} ms)`,
    );
    line(
      `  target: pick p99 < ${PICK_P99_TARGET_MS} ms → ${verdict(pp99 < PICK_P99_TARGET_MS)} (${fmt(pp99, 3)} ms)`,
    );
    const short = [...r.pick, ...r.scan, ...r.pgPick].reduce((n, x) => n + x.short, 0);
    line(
      "  CPU µs: this process per call; Valkey µs: the whole Valkey server's CPU per call (other clients of it " +
        "included); round trips: writes to Valkey's socket per call; commands: sent per call (EVALSHA = 1)." +
        (short > 0 ? ` ${short} calls picked fewer than ${BATCH}.` : ""),
    );
  }
  const e = r.e2e;
  if (e.length > 0) {
    line();
    line(
      `B. ${fmt(MITRAS, 0)} online mitras, each with a socket, over ${GATEWAYS} gateway processes; ${REQUESTS} ` +
        `requests per run, ${LANES} at a time; each: request → ${BATCH} offers → the first offered mitra accepts → ` +
        "matched → that mitra ends the session",
    );
    line(
      `  ${padEnd("ms, as the clients saw it", 46)}${pad("p50", 8)}${pad("p95", 8)}${pad("p99", 8)}${pad("max", 8)}`,
    );
    const row = (name, key) =>
      line(
        `  ${padEnd(name, 46)}${pad(fmt(medOf(e, key, "p50"), 2), 8)}${pad(fmt(medOf(e, key, "p95"), 2), 8)}` +
          `${pad(fmt(medOf(e, key, "p99"), 2), 8)}${pad(fmt(Math.max(...e.map((x) => x[key].max)), 1), 8)}`,
      );
    row("pairing.request → first pairing.offer (mitra)", "requestToFirstOffer");
    row(`pairing.request → last (${BATCH}th) offer`, "requestToLastOffer");
    row("pairing.request → its ack (customer)", "requestAck");
    row("pairing.accept → pairing.matched (customer)", "acceptToMatched");
    row("pairing.accept → its ack (mitra)", "acceptAck");
    row("session.end → its ack (mitra)", "endAck");
    row("baseline: heartbeat → ack, same sockets/window", "heartbeat");
    const o99 = medOf(e, "requestToFirstOffer", "p99");
    const m99 = medOf(e, "acceptToMatched", "p99");
    const h99 = medOf(e, "heartbeat", "p99");
    line(
      `  target: request → first offer p99 < ${E2E_P99_TARGET_MS} ms → ${verdict(o99 < E2E_P99_TARGET_MS)} ` +
        `(${fmt(o99, 2)} ms; runs ${e.map((x) => fmt(x.requestToFirstOffer.p99, 2)).join(", ")}; ` +
        `${times(ratio(o99, h99))} the heartbeat round trip's p99)`,
    );
    line(
      `  target: accept → matched p99 < ${E2E_P99_TARGET_MS} ms → ${verdict(m99 < E2E_P99_TARGET_MS)} ` +
        `(${fmt(m99, 2)} ms; runs ${e.map((x) => fmt(x.acceptToMatched.p99, 2)).join(", ")}; ` +
        `${times(ratio(m99, h99))} the heartbeat round trip's p99)`,
    );
    line(
      `  max is the largest of the runs; max heartbeat p99 over runs ${e.map((x) => fmt(x.heartbeat.p99, 2)).join(", ")} ms ` +
        `(${fmt(med(e, "heartbeats"), 0)} heartbeats per window)`,
    );
    line(
      `  server CPU, ${GATEWAYS} gateways together: ${fmt(med(e, "cpuUsPerCycle"), 0)} µs per cycle; ` +
        `${fmt(med(e, "netCpuUsPerCycle"), 0)} µs net of their idle ${fmt(med(e, "idleUsPerSecond"), 0)} µs/s ` +
        `(${fmt(MITRAS + CUSTOMERS, 0)} sockets, ${fmt(MITRAS / 30, 0)} heartbeats/s)`,
    );
    line(
      `  machine busy during the windows (all cores): ${e.map((x) => fmt(x.machineBusy * 100, 0)).join(", ")} %; ` +
        `Postgres checkpoints started in them: ${e.map((x) => x.checkpoints).join(", ")}`,
    );
    line(
      `  inside the gateways (halo_pairing_step_seconds, mean): request → offers published ` +
        `${fmt(med(e, "serverOfferMs"), 2)} ms, accept → matched published ${fmt(med(e, "serverMatchMs"), 2)} ms; ` +
        `fan-out publish → delivery (ms clock) mean ${fmt(med(e, "fanoutMs"), 2)} ms`,
    );
    line(
      `  across processes: ${fmt(med(e, "offersOnOtherGateway") * 100, 0)} % of offers and ` +
        `${fmt(med(e, "winnerOnOtherGateway") * 100, 0)} % of winners on another gateway than the customer; ` +
        `${fmt(med(e, "offersPerRequest"), 0)} offers per request`,
    );
    const errs = {};
    for (const x of e)
      for (const [k, v] of Object.entries({ ...x.errors, ...x.acceptRefused })) errs[k] = (errs[k] ?? 0) + v;
    line(
      `  over all runs: cycles ${e.reduce((n, x) => n + x.cycles, 0)}, errors/refusals ${JSON.stringify(errs)}, ` +
        `pairing.matched not seen ${e.reduce((n, x) => n + x.missedMatched, 0)}, heartbeat errors ` +
        `${e.reduce((n, x) => n + x.heartbeatErrors, 0)}, Valkey fallbacks ${e.reduce((n, x) => n + x.fallbacks, 0)}, ` +
        `rate-limited ${e.reduce((n, x) => n + x.rateLimited, 0)}`,
    );
  }
  return out.join("\n");
}

// ---------------------------------------------------------------- main

async function main() {
  if (!existsSync(MAIN_JS)) throw new Error("dist/main.js is missing: run `npm run build` first");
  if (!existsSync(path("../dist/pairing/available-picker.js")))
    throw new Error("this build has no dist/pairing/available-picker.js (pairing is not in it)");
  const started = Date.now();
  const { migrate } = await import("../dist/db/migrate.js");
  log(`pairing-bench: database ${DB_NAME}, Valkey ${VALKEY_URL} prefix ${KEY_ROOT}`);
  await createDatabase(PG_ADMIN_URL, DB_NAME);
  owned.dbCreated = true;
  await migrate(DATABASE_URL);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  owned.closers.push(() => pool.end());

  const r = { busyBeforeRun: [], pick: [], scan: [], pgPick: [], e2e: [] };
  if (PARTS.includes("pick")) await partPick(r);
  if (PARTS.includes("e2e")) await partE2e(pool, r);

  const table = report(r);
  log(table);
  log(`\n(total ${fmt((Date.now() - started) / 1000, 0)} s)`);
  writeResults("pairing-bench", {
    runs: RUNS,
    mitras: MITRAS,
    picks: PICKS,
    scans: SCANS,
    requests: REQUESTS,
    lanes: LANES,
    gateways: GATEWAYS,
    results: r,
    table,
  });
}

await runInterruptible({ name: "pairing-bench", main, cleanup, log, dbName: DB_NAME });
