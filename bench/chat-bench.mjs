/**
 * Chat benchmark (see bench/README.md). Against a database and a Valkey key
 * prefix of its own: pairs of a customer and a mitra with an active chat
 * session, the two parties always on different server processes, send
 * `chat.send` frames in an open loop at BENCH_CHAT_RATE (2,000) messages/s in
 * all; measured: send → `chat.message` at the other party, send → ack, the
 * servers' CPU per message and Postgres transactions per message. The same
 * load, in the same run, against the baseline: as many bare uWS processes
 * that store each message with one INSERT and deliver it with one PUBLISH
 * (lib/naive-chat-server.mjs).
 *
 *   npm run build && node bench/chat-bench.mjs
 *
 * BENCH_RUNS (3), BENCH_CHAT_PAIRS (200), BENCH_CHAT_RATE (2000),
 * BENCH_CHAT_SECONDS (10), BENCH_CHAT_GATEWAYS (3), BENCH_CHAT_CLIENTS (2),
 * BENCH_CHAT_TEXT_BYTES (80), BENCH_PG_ADMIN_URL, BENCH_VALKEY_URL,
 * BENCH_QUIET_WAIT_SECONDS override defaults.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { runInterruptible } from "./lib/bench-lifecycle.mjs";
import { BASE_ENV, startChild } from "./lib/child-service.mjs";
import { hrNow, startFrameClient } from "./lib/frame-clients.mjs";
import { metricSum, metricsText, startGateways } from "./lib/gateway-procs.mjs";
import { cpuByPid, cpuSpent } from "./lib/proc-group-cpu.mjs";
import { processCpuUs } from "./lib/proc-stat.mjs";
import { busyShare, cpuTimes, waitForQuietExcept } from "./lib/quiet-except.mjs";
import { writeResults } from "./lib/results-file.mjs";
import { createDatabase, deleteValkeyKeys, dropDatabase, scratchDatabaseUrl } from "./lib/scratch-stores.mjs";
import { signedInUsers } from "./lib/signed-in-users.mjs";
import { fmt, median, percentile } from "./lib/stats.mjs";

const env = process.env;
const int = (v, d) => (v && /^\d+$/.test(v) ? Number(v) : d);
const RUNS = int(env.BENCH_RUNS, 3);
const PAIRS = Math.max(1, int(env.BENCH_CHAT_PAIRS, 200));
/** Messages per second in all; a comma list runs a series per rate (each run goes through them in turn). */
const RATES = (env.BENCH_CHAT_RATE ?? "2000")
  .split(",")
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0);
const WINDOW_MS = int(env.BENCH_CHAT_SECONDS, 10) * 1000;
const WARMUP_MS = 2000;
const TAIL_MS = 5000;
const SERVERS = Math.max(2, int(env.BENCH_CHAT_GATEWAYS, 3));
const CLIENTS = Math.max(1, int(env.BENCH_CHAT_CLIENTS, 2));
const TEXT_BYTES = Math.max(24, int(env.BENCH_CHAT_TEXT_BYTES, 80));
/**
 * Postgres 15 backends flush their statistics at most once a second while
 * busy and within 10 s of going idle: a pg_stat_database reading after a
 * window waits this long.
 */
const PG_STATS_SETTLE_MS = 11_000;
/** The idle span after each run (the gateways' background in Postgres, scaled to each window's span). */
const IDLE_SPAN_MS = 15_000;
/** Targets (the issue's). */
const P99_TARGET_MS = 20;
const QUIET_BELOW = 0.15;
const QUIET_WAIT_MS = int(env.BENCH_QUIET_WAIT_SECONDS, 20) * 1000;
const PG_ADMIN_URL = env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const VALKEY_URL = env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const MAIN_JS = path("../dist/main.js");
const NAIVE_JS = path("./lib/naive-chat-server.mjs");
const DB_NAME = `halo_bench_chat_${process.pid}`;
const KEY_ROOT = `halo_bench_chat_${process.pid}:`;
const JWT_SECRET = randomBytes(36).toString("base64url");
const DATABASE_URL = scratchDatabaseUrl(PG_ADMIN_URL, DB_NAME);
const FD_LIMIT = 4 * PAIRS + 4096;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);

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

async function startNaive(n) {
  const started = Array.from({ length: n }, (_, k) =>
    track(
      startChild({
        name: `naive chat ${k}`,
        args: [NAIVE_JS],
        fdLimit: FD_LIMIT,
        env: {
          ...BASE_ENV,
          DATABASE_URL,
          VALKEY_URL,
          CHANNEL: `${KEY_ROOT}naive:ch`,
          AUTH_JWT_SECRET: JWT_SECRET,
        },
        isReady: (j) => j.listening === true,
      }),
    ),
  );
  const lines = await Promise.all(started.map((s) => s.ready));
  return started.map((svc, k) => ({
    k,
    svc,
    pid: svc.child.pid,
    wsUrl: `ws://127.0.0.1:${lines[k].port}/ws`,
    cpuUs: () => processCpuUs(svc.child.pid),
  }));
}

const cpuOf = (servers) => servers.reduce((n, x) => n + x.cpuUs(), 0);

/** Checkpoints Postgres has started (timed and requested: other databases' DROP DATABASE asks for one). */
async function checkpoints(admin) {
  const { rows } = await admin.query(
    "SELECT (checkpoints_timed + checkpoints_req)::bigint AS n FROM pg_stat_bgwriter",
  );
  return Number(rows[0].n);
}

/** Transactions and row counts of the bench database so far (read over the admin connection). */
async function pgCounters(admin) {
  const { rows } = await admin.query(
    `SELECT xact_commit::bigint AS commits, xact_rollback::bigint AS rollbacks,
            tup_inserted::bigint AS inserted, tup_updated::bigint AS updated
     FROM pg_stat_database WHERE datname = $1`,
    [DB_NAME],
  );
  const x = rows[0];
  return {
    at: performance.now(),
    commits: Number(x.commits),
    rollbacks: Number(x.rollbacks),
    inserted: Number(x.inserted),
    updated: Number(x.updated),
  };
}
const pgDelta = (a, b) => ({
  ms: b.at - a.at,
  commits: b.commits - a.commits,
  rollbacks: b.rollbacks - a.rollbacks,
  inserted: b.inserted - a.inserted,
  updated: b.updated - a.updated,
});

// ---------------------------------------------------------------- the open loop

/**
 * One open loop on one set of servers: message j is due at start + j/rate s,
 * from pair j mod PAIRS, customer → mitra and mitra → customer in turn, so
 * each socket sends every 2·PAIRS/rate s. Every client process runs it at
 * once (each sends from the sockets it holds and records what it receives).
 */
async function chatWindow(set, clients, servers, tag, admin, rate) {
  const gap = 1000 / rate;
  const senders = clients.map(() => []);
  for (const s of set.sockets) {
    const offset = (s.role === "c" ? s.pair : PAIRS + s.pair) * gap;
    senders[s.client].push({ key: s.key, sessionId: s.sessionId, offset });
  }
  for (const list of senders) list.sort((a, b) => a.offset - b.offset);
  const startAt = hrNow() + 300;
  const k0 = await checkpoints(admin);
  const pg0 = cpuByPid("postgres");
  const v0 = cpuByPid("redis-server");
  const m0 = cpuTimes();
  const c0 = servers.reduce((n, x) => n + x.cpuUs(), 0);
  const t0 = performance.now();
  const out = await Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "chat-loop",
        senders: senders[c.k],
        startAt,
        intervalMs: 2 * PAIRS * gap,
        warmupMs: WARMUP_MS,
        durationMs: WINDOW_MS,
        tag,
        textBytes: TEXT_BYTES,
        tailMs: TAIL_MS,
      }),
    ),
  );
  const c1 = servers.reduce((n, x) => n + x.cpuUs(), 0);
  const m1 = cpuTimes();
  const pg1 = cpuByPid("postgres");
  const v1 = cpuByPid("redis-server");
  const k1 = await checkpoints(admin);
  const spanMs = performance.now() - t0;
  const sum = (k) => out.reduce((n, x) => n + x[k], 0);
  const latencies = out.flatMap((x) => x.latencies);
  const acks = out.flatMap((x) => x.ackLatencies);
  const lags = out.flatMap((x) => x.sendLags);
  const errorCodes = {};
  for (const x of out)
    for (const [k, v] of Object.entries(x.errorCodes)) errorCodes[k] = (errorCodes[k] ?? 0) + v;
  return {
    sent: sum("sent"),
    sentTotal: sum("sentTotal"),
    acked: sum("acked"),
    unanswered: sum("unanswered"),
    errors: sum("errors"),
    errorCodes,
    received: sum("received"),
    lost: sum("sent") - sum("received"),
    perSecond: sum("received") / (WINDOW_MS / 1000),
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    ackP50Ms: percentile(acks, 50),
    ackP99Ms: percentile(acks, 99),
    sendLagP99Ms: percentile(lags, 99),
    spanMs,
    cpuUs: c1 - c0,
    machineBusy: busyShare(m0, m1),
    /** Every postgres process (this database's backends and everyone else's, WAL writer, checkpointer). */
    pgCpuUsPerMessage: cpuSpent(pg0, pg1) / sum("acked"),
    valkeyCpuUsPerMessage: cpuSpent(v0, v1) / sum("acked"),
    /** Every process on the machine (servers, Postgres, Valkey, the clients, anything else) per message acked. */
    machineCpuUsPerMessage: (busyShare(m0, m1) * cpus().length * spanMs * 1000) / sum("acked"),
    checkpoints: k1 - k0,
    cpuUsPerMessage: (c1 - c0) / sum("acked"),
  };
}

const logWindow = (name, x) =>
  log(
    `  ${name.padEnd(9)} ${fmt(x.perSecond, 0)} msg/s delivered: send → chat.message p50 ${fmt(x.p50Ms, 2)} ms, ` +
      `p99 ${fmt(x.p99Ms, 2)} ms, max ${fmt(x.maxMs, 1)} ms; ack p99 ${fmt(x.ackP99Ms, 2)} ms; ` +
      `${fmt(x.cpuUsPerMessage, 0)} µs server CPU/message; client send lag p99 ${fmt(x.sendLagP99Ms, 2)} ms; ` +
      `machine ${fmt(x.machineBusy * 100, 0)} % busy; Postgres ${fmt(x.pgCpuUsPerMessage, 0)} µs CPU/message; ` +
      `${x.checkpoints} Postgres checkpoints` +
      (x.errors + x.unanswered + x.lost > 0
        ? `; ${x.errors} errors ${JSON.stringify(x.errorCodes)}, ${x.unanswered} unanswered, ${x.lost} not delivered`
        : ""),
  );

// ---------------------------------------------------------------- main

async function main() {
  if (!existsSync(MAIN_JS)) throw new Error("dist/main.js is missing: run `npm run build` first");
  if (!existsSync(path("../dist/sessions/chat.js")))
    throw new Error("this build has no dist/sessions/chat.js (chat is not in it)");
  const started = Date.now();
  const { migrate } = await import("../dist/db/migrate.js");
  log(`chat-bench: database ${DB_NAME}, Valkey ${VALKEY_URL} prefix ${KEY_ROOT}`);
  await createDatabase(PG_ADMIN_URL, DB_NAME);
  owned.dbCreated = true;
  await migrate(DATABASE_URL);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  owned.closers.push(() => pool.end());
  // Counters of the bench database read from another database, so reading them does not count itself.
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  owned.closers.push(() => admin.end());

  // Pairs with an active session (as if paired and paid), made before the servers start, so the
  // gateways restore their expiry timers as they would after a restart; they expire in 2 hours.
  const customers = await signedInUsers(pool, "customer", PAIRS, JWT_SECRET);
  const mitras = await signedInUsers(pool, "mitra", PAIRS, JWT_SECRET, { phonePrefix: "4" });
  const { rows } = await pool.query(
    `INSERT INTO chat_sessions (customer_id, mitra_id, status, paid_at, expires_at)
     SELECT c, m, 'active', now(), now() + interval '2 hours'
     FROM UNNEST($1::uuid[], $2::uuid[]) WITH ORDINALITY AS x(c, m, i) ORDER BY i RETURNING id`,
    [customers.map((x) => x.id), mitras.map((x) => x.id)],
  );
  const sessionIds = rows.map((x) => x.id);

  const gateways = await startGateways(SERVERS, {
    mainJs: MAIN_JS,
    fdLimit: FD_LIMIT,
    track,
    env: {
      ...BASE_ENV,
      DATABASE_URL,
      // bench/cluster-bench.mjs runs this bench with the gateways on its Valkey Cluster.
      ...(env.BENCH_VALKEY_CLUSTER_NODES
        ? { VALKEY_CLUSTER_NODES: env.BENCH_VALKEY_CLUSTER_NODES }
        : { VALKEY_URL }),
      VALKEY_KEY_PREFIX: `${KEY_ROOT}gw:`,
      AUTH_JWT_SECRET: JWT_SECRET,
    },
  });
  const naive = await startNaive(SERVERS);
  log(
    `  ${PAIRS} pairs with an active session; ${SERVERS} gateways (${gateways.map((g) => g.wsUrl).join(", ")}), ` +
      `${SERVERS} naive servers (${naive.map((g) => g.wsUrl).join(", ")})`,
  );
  const clients = Array.from({ length: CLIENTS }, (_, k) =>
    startFrameClient(k, { fdLimit: FD_LIMIT, env: BASE_ENV }),
  );
  owned.clients.push(...clients);
  await Promise.all(clients.map((c) => c.ready));

  // Pair p: customer on server p mod S, mitra on server p+1 mod S (never the same process); customer in
  // client process p mod C, mitra in p+1 mod C.
  const setOf = (name, servers) => ({
    name,
    servers,
    sockets: sessionIds.flatMap((sessionId, p) => [
      {
        key: `${name}:c${p}`,
        role: "c",
        pair: p,
        sessionId,
        token: customers[p].token,
        server: p % SERVERS,
        client: p % CLIENTS,
      },
      {
        key: `${name}:m${p}`,
        role: "m",
        pair: p,
        sessionId,
        token: mitras[p].token,
        server: (p + 1) % SERVERS,
        client: (p + 1) % CLIENTS,
      },
    ]),
  });
  const sets = [setOf("gateway", gateways), setOf("baseline", naive)];
  for (const set of sets) {
    const replies = await Promise.all(
      clients.map((c) =>
        c.call({
          cmd: "connect",
          sockets: set.sockets
            .filter((s) => s.client === c.k)
            .map((s) => ({ key: s.key, token: s.token, url: set.servers[s.server].wsUrl })),
          localAddress: c.localAddress,
          concurrency: 20,
        }),
      ),
    );
    const failed = replies.reduce((n, x) => n + x.failed, 0);
    if (failed > 0)
      throw new Error(
        `${set.name}: ${failed} sockets did not open (${replies.find((x) => x.firstError)?.firstError})`,
      );
  }
  log(`  ${fmt(4 * PAIRS, 0)} sockets open over ${CLIENTS} client processes`);

  // Warm-up of both (JIT, connections, the baseline's session cache, Postgres's caches): not recorded.
  for (const set of sets) {
    const w = await chatWindow(set, clients, set.servers, `warm-${set.name}`, admin, RATES[0]);
    logWindow(`${set.name} warm-up`, w);
  }
  await sleep(PG_STATS_SETTLE_MS);

  const r = {
    busyBeforeRun: [],
    series: RATES.map((rate) => ({ rate, gateway: [], baseline: [], pg: [], fanout: [], idleCpu: [] })),
  };
  const gatewayCounters = async () => {
    const texts = await Promise.all(gateways.map((g) => metricsText(g.internalUrl)));
    const sum = (name) => texts.reduce((n, t) => n + metricSum(t, name), 0);
    return {
      fanoutSum: sum("halo_fanout_latency_seconds_sum"),
      fanoutCount: sum("halo_fanout_latency_seconds_count"),
      fallbacks: sum("halo_valkey_fallbacks_total"),
      rateLimited: sum("halo_ws_rate_limited_total"),
    };
  };
  const ownPids = [
    process.pid,
    ...gateways.map((g) => g.pid),
    ...naive.map((g) => g.pid),
    ...clients.map((c) => c.pid),
  ];
  for (let run = 1; run <= RUNS; run++) {
    for (const series of r.series) {
      const rate = series.rate;
      // The bench's own servers and clients stay up between runs: their CPU is not the machine's business.
      const busy = await waitForQuietExcept(ownPids, QUIET_BELOW, QUIET_WAIT_MS);
      r.busyBeforeRun.push(busy);
      log(
        `run ${run}/${RUNS}, ${fmt(rate, 0)} messages/s (machine ${fmt(busy * 100, 0)} % busy besides the bench's ` +
          `own processes before it${busy >= QUIET_BELOW ? ": NOT QUIET" : ""})`,
      );
      const m0 = await gatewayCounters();
      const s0 = await pgCounters(admin);
      const g = await chatWindow(sets[0], clients, gateways, `r${run}-${rate}-gw`, admin, rate);
      logWindow("gateway", g);
      const m1 = await gatewayCounters();
      await sleep(PG_STATS_SETTLE_MS);
      const s1 = await pgCounters(admin);
      const b = await chatWindow(sets[1], clients, naive, `r${run}-${rate}-naive`, admin, rate);
      logWindow("baseline", b);
      await sleep(PG_STATS_SETTLE_MS);
      const s2 = await pgCounters(admin);
      // A span with no messages: the gateways' own background (sweeps, timers) in the database, scaled below.
      const idleCpu0 = { at: performance.now(), g: cpuOf(gateways), b: cpuOf(naive) };
      await sleep(IDLE_SPAN_MS);
      const s3 = await pgCounters(admin);
      const idleSeconds = (performance.now() - idleCpu0.at) / 1000;
      const idleCpu = {
        gatewayUsPerSecond: (cpuOf(gateways) - idleCpu0.g) / idleSeconds,
        baselineUsPerSecond: (cpuOf(naive) - idleCpu0.b) / idleSeconds,
      };
      g.netCpuUsPerMessage = (g.cpuUs - (idleCpu.gatewayUsPerSecond * g.spanMs) / 1000) / g.acked;
      b.netCpuUsPerMessage = (b.cpuUs - (idleCpu.baselineUsPerSecond * b.spanMs) / 1000) / b.acked;
      series.idleCpu.push(idleCpu);
      const idle = pgDelta(s2, s3);
      const per = (d, n) => {
        const k = d.ms / idle.ms;
        return {
          span: d,
          transactionsPerMessage: (d.commits + d.rollbacks - k * (idle.commits + idle.rollbacks)) / n,
          insertedPerMessage: (d.inserted - k * idle.inserted) / n,
          updatedPerMessage: (d.updated - k * idle.updated) / n,
        };
      };
      const pgRun = { gateway: per(pgDelta(s0, s1), g.acked), baseline: per(pgDelta(s1, s2), b.acked), idle };
      series.pg.push(pgRun);
      series.fanout.push({
        fanoutMs: ((m1.fanoutSum - m0.fanoutSum) / (m1.fanoutCount - m0.fanoutCount)) * 1000,
        fallbacks: m1.fallbacks - m0.fallbacks,
        rateLimited: m1.rateLimited - m0.rateLimited,
      });
      series.gateway.push(g);
      series.baseline.push(b);
      log(
        `  Postgres: gateway ${fmt(pgRun.gateway.transactionsPerMessage, 3)} transactions and ` +
          `${fmt(pgRun.gateway.insertedPerMessage, 3)} rows inserted per message, baseline ` +
          `${fmt(pgRun.baseline.transactionsPerMessage, 3)} and ${fmt(pgRun.baseline.insertedPerMessage, 3)} ` +
          `(idle span: ${idle.commits + idle.rollbacks} transactions in ${fmt(idle.ms / 1000)} s)`,
      );
    }
  }

  const table = report(r);
  log(table);
  log(`\n(total ${fmt((Date.now() - started) / 1000, 0)} s)`);
  writeResults("chat-bench", {
    runs: RUNS,
    pairs: PAIRS,
    rates: RATES,
    windowMs: WINDOW_MS,
    servers: SERVERS,
    clients: CLIENTS,
    results: r,
    table,
  });
}

// ---------------------------------------------------------------- report

const med = (runs, key) => median(runs.map((x) => x[key]));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${fmt(a / b, 2)}×` : "-");
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);

function report(r) {
  const out = [];
  const line = (s = "") => out.push(s);
  line();
  line(
    `chat-bench — median of ${RUNS} run(s); ${PAIRS} pairs, chat.send in an open loop for ${WINDOW_MS / 1000} s ` +
      `(after ${WARMUP_MS / 1000} s of warm-up); the two parties of a pair on different processes of ${SERVERS}; ` +
      `${CLIENTS} client processes; ${cpus().length} cores (±20 % run to run)`,
  );
  const noisy = r.busyBeforeRun.filter((b) => b >= QUIET_BELOW);
  if (noisy.length > 0)
    line(
      `WARNING: ${noisy.length} of ${r.busyBeforeRun.length} measured runs started with the machine ` +
        `${noisy.map((b) => `${fmt(b * 100, 0)} %`).join(", ")} busy ` +
        "with other work: the figures below are disturbed; rerun on a quiet machine.",
    );
  const sum = (runs, k) => runs.reduce((n, x) => n + x[k], 0);
  for (const x of r.series) {
    line();
    line(`${fmt(x.rate, 0)} messages/s in all (each socket ${fmt(x.rate / (2 * PAIRS), 1)}/s)`);
    line(
      `  ${padEnd("send → chat.message at the other party", 40)}${pad("msg/s", 7)}${pad("p50 ms", 9)}${pad("p95 ms", 9)}` +
        `${pad("p99 ms", 10)}${pad("max ms", 10)}${pad("ack p99", 10)}${pad("CPU µs/msg", 12)}${pad("tx/msg", 8)}` +
        `${pad("rows/msg", 10)}`,
    );
    const row = (name, runs, pgKey) =>
      line(
        `  ${padEnd(name, 40)}${pad(fmt(med(runs, "perSecond"), 0), 7)}${pad(fmt(med(runs, "p50Ms"), 2), 9)}` +
          `${pad(fmt(med(runs, "p95Ms"), 2), 9)}${pad(fmt(med(runs, "p99Ms"), 2), 10)}` +
          `${pad(fmt(Math.max(...runs.map((y) => y.maxMs)), 1), 10)}${pad(fmt(med(runs, "ackP99Ms"), 2), 10)}` +
          `${pad(fmt(med(runs, "cpuUsPerMessage"), 0), 12)}` +
          `${pad(fmt(median(x.pg.map((y) => y[pgKey].transactionsPerMessage)), 2), 8)}` +
          `${pad(fmt(median(x.pg.map((y) => y[pgKey].insertedPerMessage)), 2), 10)}`,
      );
    row(`gateway ×${SERVERS}`, x.gateway, "gateway");
    row(`baseline ×${SERVERS}: bare INSERT + PUBLISH`, x.baseline, "baseline");
    const g99 = med(x.gateway, "p99Ms");
    const b99 = med(x.baseline, "p99Ms");
    line(
      `  gateway / baseline: p50 ${ratio(med(x.gateway, "p50Ms"), med(x.baseline, "p50Ms"))}, p99 ${ratio(g99, b99)}, ` +
        `server CPU per message ${ratio(med(x.gateway, "cpuUsPerMessage"), med(x.baseline, "cpuUsPerMessage"))}, ` +
        `Postgres transactions per message ${ratio(
          median(x.pg.map((y) => y.gateway.transactionsPerMessage)),
          median(x.pg.map((y) => y.baseline.transactionsPerMessage)),
        )}`,
    );
    line(
      `  server CPU per message net of the servers' idle CPU: gateway ${fmt(med(x.gateway, "netCpuUsPerMessage"), 0)} µs ` +
        `(idle ${fmt(median(x.idleCpu.map((y) => y.gatewayUsPerSecond)), 0)} µs/s for the ${SERVERS}), baseline ` +
        `${fmt(med(x.baseline, "netCpuUsPerMessage"), 0)} µs (idle ${fmt(median(x.idleCpu.map((y) => y.baselineUsPerSecond)), 0)} µs/s); ` +
        `the whole machine's CPU per message (servers, Postgres, Valkey, clients, anything else running): gateway ` +
        `${fmt(med(x.gateway, "machineCpuUsPerMessage"), 0)} µs, baseline ${fmt(med(x.baseline, "machineCpuUsPerMessage"), 0)} µs, ` +
        `of which Postgres (every postgres process on the machine) ${fmt(med(x.gateway, "pgCpuUsPerMessage"), 0)} vs ` +
        `${fmt(med(x.baseline, "pgCpuUsPerMessage"), 0)} µs and Valkey ${fmt(med(x.gateway, "valkeyCpuUsPerMessage"), 0)} vs ` +
        `${fmt(med(x.baseline, "valkeyCpuUsPerMessage"), 0)} µs`,
    );
    line(
      `  p99 per run: gateway ${x.gateway.map((y) => fmt(y.p99Ms, 2)).join(", ")}; baseline ` +
        `${x.baseline.map((y) => fmt(y.p99Ms, 2)).join(", ")} ms`,
    );
    line(
      `  machine busy during the windows (all cores): gateway ${x.gateway.map((y) => fmt(y.machineBusy * 100, 0)).join(", ")} %, ` +
        `baseline ${x.baseline.map((y) => fmt(y.machineBusy * 100, 0)).join(", ")} %; Postgres checkpoints started ` +
        `in them: gateway ${x.gateway.map((y) => y.checkpoints).join(", ")}, baseline ${x.baseline.map((y) => y.checkpoints).join(", ")}`,
    );
    line(
      `  target: send → chat.message p99 < ${P99_TARGET_MS} ms at ${fmt(x.rate, 0)}/s across processes → ` +
        `${g99 < P99_TARGET_MS ? "PASS" : "FAIL"} (${fmt(g99, 2)} ms)`,
    );
    line(
      `  over all runs — gateway: ${sum(x.gateway, "errors")} errors ${JSON.stringify(mergeCodes(x.gateway))}, ` +
        `${sum(x.gateway, "unanswered")} unanswered, ${sum(x.gateway, "lost")} not delivered, Valkey fallbacks ` +
        `${sum(x.fanout, "fallbacks")}, rate-limited ${sum(x.fanout, "rateLimited")}; baseline: ` +
        `${sum(x.baseline, "errors")} errors, ${sum(x.baseline, "unanswered")} unanswered, ` +
        `${sum(x.baseline, "lost")} not delivered; client send lag p99 ${fmt(med(x.gateway, "sendLagP99Ms"), 2)} / ` +
        `${fmt(med(x.baseline, "sendLagP99Ms"), 2)} ms`,
    );
    line(
      "  gateway fan-out, Valkey publish → delivery to the topic (halo_fanout_latency_seconds, ms clock): mean " +
        `${fmt(med(x.fanout, "fanoutMs"), 2)} ms`,
    );
    line(
      `  Postgres spans (transactions): gateway ${x.pg.map((y) => y.gateway.span.commits + y.gateway.span.rollbacks).join(", ")}; ` +
        `baseline ${x.pg.map((y) => y.baseline.span.commits + y.baseline.span.rollbacks).join(", ")}; idle ` +
        `${x.pg.map((y) => y.idle.commits + y.idle.rollbacks).join(", ")}; messages acked: gateway ` +
        `${x.gateway.map((y) => y.acked).join(", ")}, baseline ${x.baseline.map((y) => y.acked).join(", ")}`,
    );
  }
  line();
  line(
    "latency: from the scheduled send time (a late client counts against it) to the frame's arrival at the other " +
      "party; CPU: every server process of the set, user + system from /proc, over warm-up, window and tail, per " +
      "message acked.",
  );
  line(
    "tx/msg: xact_commit + xact_rollback of the bench database (pg_stat_database) over the span, minus an idle " +
      "span's scaled to the same length, per message acked; an autocommit statement is one transaction, so for these " +
      "code paths it is statements per message. rows/msg: tup_inserted likewise.",
  );
  return out.join("\n");
}

const mergeCodes = (runs) => {
  const all = {};
  for (const x of runs) for (const [k, v] of Object.entries(x.errorCodes)) all[k] = (all[k] ?? 0) + v;
  return all;
};

await runInterruptible({ name: "chat-bench", main, cleanup, log, dbName: DB_NAME });
