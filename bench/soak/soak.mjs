/**
 * Soak: one gateway process (the built dist/main.js, WORKERS=1) under a steady
 * heartbeat load at half its measured capacity, with reconnect churn, for
 * BENCH_SOAK_MINUTES (15). Prints one row every BENCH_SOAK_SAMPLE_SECONDS
 * (10): the gateway's RSS, heap used and event-loop delay p99 (prom-client's
 * default metrics from /metrics; the loop histogram is reset by each scrape,
 * so every row's p99 covers exactly its 10 s), the acks and their p99 seen by
 * the clients, the reconnects, and the machine's load average; then the
 * growth after warm-up and a verdict against the targets (RSS growth < 5 %,
 * event-loop p99 < 20 ms in every row).
 *
 * 1. Capacity, measured in this run: closed-loop heartbeats on
 *    BENCH_SOAK_PROBE_SOCKETS (1,000) sockets, each paced at the contract's
 *    50 frames/s, 2 s warm-up then 10 s counted (lib/ws-client.mjs).
 * 2. Soak: BENCH_SOAK_SOCKETS (4,000) mitra sockets over BENCH_SOAK_CLIENTS
 *    (2) client processes (soak/soak-client.mjs), heartbeating on a fixed
 *    schedule so that together they send capacity / 2 per second (or
 *    BENCH_SOAK_RATE), while BENCH_SOAK_CHURN_PERCENT (1) % of the sockets a
 *    second, spread over the second, are closed and opened again.
 *    The load (probe and soak) uses lib/lean-ws.mjs (BENCH_SOAK_CLIENT=ws:
 *    the `ws` package) at niceness BENCH_SOAK_CLIENT_NICE (10): the clients
 *    share the 2 cores with the server they measure. The gateway runs with
 *    the service's own Node flags (lib/gateway-procs.mjs SERVICE_NODE_ARGS)
 *    plus BENCH_SOAK_NODE_ARGS; BENCH_SOAK_PROFILE=S adds a CPU profile of S
 *    seconds from the end of the warm-up.
 *
 * 3. Attribution: the gateway runs with lib/stall-watch.mjs preloaded, which
 *    reports every event-loop stall of 10 ms or more with the loop thread's
 *    time on a CPU and in the run queue across it, every GC pause, and every
 *    run of the gateway's periodic work (sweeps, dashboard history, /metrics).
 *    Each row counts its stalls as ours (the loop thread on a CPU for most of
 *    the stall), the machine's (runnable, waiting for a CPU) or other; every
 *    window at or over the loop target gets a line that says why.
 * 4. Baseline, measured in the same run: the bare uWebSockets.js echo
 *    (baselines/echo-ws.mjs, same watcher) under the same clients, rate and
 *    churn for BENCH_SOAK_BASELINE_MINUTES (5; 0 skips it), then its loop p99
 *    per window beside the gateway's: what the machine alone does to a loop.
 *
 * BENCH_SOAK_MINUTES shortens a trial run (the gateway's part; the baseline
 * is at most as long).
 *
 * Needs Postgres on 127.0.0.1:5432 and Valkey/Redis on 6379 (BENCH_PG_ADMIN_URL,
 * BENCH_VALKEY_URL); makes its own database and key prefix and removes both.
 */
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { runWithDeadline } from "../lib/bench-lifecycle.mjs";
import { benchScratch } from "../lib/bench-scratch.mjs";
import { BASE_ENV, startChild } from "../lib/child-service.mjs";
import { topFrames } from "../lib/cpu-profile.mjs";
import { metricSum, startGateways } from "../lib/gateway-procs.mjs";
import { debuggerUrlOf, profileDuring } from "../lib/inspector-profile.mjs";
import { startIpcChild } from "../lib/ipc-child.mjs";
import { processCpuUs } from "../lib/proc-stat.mjs";
import { sample } from "../lib/prom-text.mjs";
import { writeResults } from "../lib/results-file.mjs";
import { signedInMitras } from "../lib/signed-in-mitras.mjs";
import { fmt, percentile } from "../lib/stats.mjs";

const env = process.env;
const num = (v, d) => (v && Number.isFinite(Number(v)) && Number(v) > 0 ? Number(v) : d);
const MINUTES = num(env.BENCH_SOAK_MINUTES, 15);
const BASELINE_MINUTES = Math.min(
  MINUTES,
  env.BENCH_SOAK_BASELINE_MINUTES === "0" ? 0 : num(env.BENCH_SOAK_BASELINE_MINUTES, 5),
);
const SAMPLE_MS = num(env.BENCH_SOAK_SAMPLE_SECONDS, 10) * 1000;
const SOCKETS = Math.round(num(env.BENCH_SOAK_SOCKETS, 4000));
const CLIENTS = Math.round(num(env.BENCH_SOAK_CLIENTS, 2));
const CHURN_PERCENT = num(env.BENCH_SOAK_CHURN_PERCENT, 1);
const FIXED_RATE = num(env.BENCH_SOAK_RATE, 0);
/** BENCH_SOAK_PROFILE=S: a CPU profile of the gateway over S seconds of the soak, from the end of the warm-up. */
const PROFILE_S = num(env.BENCH_SOAK_PROFILE, 0);
/** BENCH_SOAK_PROFILE_AT=S: the profile starts S seconds into the soak instead. */
const PROFILE_AT_MS = num(env.BENCH_SOAK_PROFILE_AT, 0) * 1000;
const PROBE_SOCKETS = Math.round(num(env.BENCH_SOAK_PROBE_SOCKETS, 1000));
const PROBE_WARMUP_MS = 2000;
const PROBE_MS = 10_000;
/** The contract's per-socket limit (§4: 50 frames/s): the probe paces each socket to it, the soak stays under it. */
const MIN_GAP_MS = 20;
const CONNECT_CONCURRENCY = 50;
/** Rows before this are warm-up (JIT, pools, first heartbeat-mirror flush): min(3 min, a fifth of the run). */
const WARMUP_MS = Math.min(180_000, (MINUTES * 60_000) / 5);
const RSS_GROWTH_TARGET = 0.05;
const LOOP_P99_TARGET_MS = 20;
const FD_LIMIT = Math.max(SOCKETS, PROBE_SOCKETS) + 4096;
/**
 * The load's WebSocket client: lib/lean-ws.mjs unless BENCH_SOAK_CLIENT=ws (the `ws` package). The
 * load shares the 2 cores with the gateway; with `ws` it took ~70 % of a core at the soak's rate.
 */
const CLIENT_IMPL = env.BENCH_SOAK_CLIENT === "ws" ? "ws" : "lean";
/**
 * The load's niceness (BENCH_SOAK_CLIENT_NICE, default 10; 0 = the server's): in production the
 * clients are other machines. Here they share the 2 cores, and at equal priority the scheduler
 * ran a client ahead of the server's loop thread, which then counted as the server's stall.
 */
const CLIENT_NICE = env.BENCH_SOAK_CLIENT_NICE === "0" ? 0 : num(env.BENCH_SOAK_CLIENT_NICE, 10);
/** Stalls the watcher reports (and the rows count): shorter ones cannot move a 20 ms p99. */
const STALL_MS = 10;
/** An own stall starting this soon after the end of a machine's one is tagged as a possible catch-up. */
const CATCH_UP_MS = 20;

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const MAIN_JS = path("../../dist/main.js");
const WS_CLIENT_JS = path("../lib/ws-client.mjs");
const SOAK_CLIENT_JS = path("./soak-client.mjs");
const STALL_WATCH_JS = path("../lib/stall-watch.mjs");
const ECHO_WS_JS = path("../baselines/echo-ws.mjs");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);
const loadAvg = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
const mib = (b) => b / 1048576;
const absNow = () => performance.timeOrigin + performance.now();
const scratch = benchScratch("soak", log);

const track = (svc) => {
  scratch.gateway = svc;
  return svc;
};

async function startGateway() {
  const events = [];
  const [gw] = await startGateways(1, {
    mainJs: MAIN_JS,
    env: scratch.gatewayEnv({ STALL_WATCH_MS: String(STALL_MS) }),
    fdLimit: FD_LIMIT,
    track,
    nodeArgs: [
      ...(env.BENCH_SOAK_NODE_ARGS ? env.BENCH_SOAK_NODE_ARGS.split(" ") : []),
      "--import",
      STALL_WATCH_JS,
      ...(PROFILE_S > 0 ? ["--inspect=127.0.0.1:0"] : []),
    ],
    onLine: (j) => j.stall !== undefined && events.push(j),
  });
  const metricsUrl = `${gw.internalUrl}/metrics`;
  return {
    name: "gateway",
    svc: gw.svc,
    pid: gw.pid,
    wsUrl: gw.wsUrl,
    events,
    read: () => scrape(metricsUrl),
    debuggerUrl: PROFILE_S > 0 ? debuggerUrlOf(gw.svc.output()) : undefined,
  };
}

/** The bare uWS echo with the same watcher; its /stats resets its loop histogram as a scrape does the gateway's. */
async function startEcho() {
  const events = [];
  const svc = track(
    startChild({
      name: "echo baseline",
      args: ["--import", STALL_WATCH_JS, ECHO_WS_JS],
      fdLimit: FD_LIMIT,
      env: { ...BASE_ENV, AUTH_JWT_SECRET: scratch.jwtSecret, STALL_WATCH_MS: String(STALL_MS) },
      isReady: (j) => j.listening === true,
      onLine: (j) => j.stall !== undefined && events.push(j),
    }),
  );
  const l = await svc.ready;
  const url = `http://127.0.0.1:${l.port}`;
  return {
    name: "echo",
    svc,
    pid: svc.child.pid,
    wsUrl: `ws://127.0.0.1:${l.port}/ws`,
    events,
    read: async () => {
      const x = await (await fetch(`${url}/stats`)).json();
      return { ...x, gcSeconds: Number.NaN };
    },
  };
}

async function scrape(metricsUrl) {
  const text = await (await fetch(metricsUrl)).text();
  return {
    rssBytes: sample(text, "process_resident_memory_bytes"),
    heapBytes: sample(text, "nodejs_heap_size_used_bytes"),
    loopP99Ms: sample(text, "nodejs_eventloop_lag_p99_seconds") * 1e3,
    loopMaxMs: sample(text, "nodejs_eventloop_lag_max_seconds") * 1e3,
    sockets: sample(text, "halo_ws_sockets"),
    gcSeconds: metricSum(text, "nodejs_gc_duration_seconds_sum"),
  };
}

function startClients(script, n) {
  const clients = Array.from({ length: n }, (_, k) =>
    startIpcChild(script, k, {
      fdLimit: FD_LIMIT,
      env: { ...BASE_ENV, BENCH_WS_IMPL: CLIENT_IMPL },
      nice: CLIENT_NICE,
    }),
  );
  scratch.clients.push(...clients);
  return clients;
}

/** Deals `tokens` round-robin over `clients` and opens them; throws if any fails. */
async function connect(clients, url, tokens) {
  const replies = await Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "connect",
        url,
        tokens: tokens.filter((_, i) => i % clients.length === c.k),
        localAddress: c.localAddress,
        concurrency: CONNECT_CONCURRENCY,
      }),
    ),
  );
  const failed = replies.reduce((n, r) => n + r.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} sockets did not open: ${replies.find((r) => r.firstError)?.firstError}`);
}

/** Closed-loop heartbeats/s on PROBE_SOCKETS sockets, each at most 50/s: the capacity the soak halves. */
async function probeCapacity(gw, tokens) {
  const clients = startClients(WS_CLIENT_JS, 2);
  await Promise.all(clients.map((c) => c.ready));
  await connect(clients, gw.wsUrl, tokens.slice(0, PROBE_SOCKETS));
  const loop = (durationMs) =>
    Promise.all(
      clients.map((c) =>
        c.call({
          cmd: "closed-loop",
          sockets: PROBE_SOCKETS,
          durationMs,
          minGapMs: MIN_GAP_MS,
          throttleGapMs: 1000,
        }),
      ),
    );
  await loop(PROBE_WARMUP_MS);
  // The buckets the warm-up drew on fill up again (burst 100 at 50/s).
  await sleep(2500);
  const out = await loop(PROBE_MS);
  for (const c of clients) {
    await c.call({ cmd: "close-all" });
    c.kill();
  }
  scratch.clients = scratch.clients.filter((c) => !clients.includes(c));
  const acked = out.reduce((n, r) => n + r.ackedInWindow, 0);
  const latencies = out.flatMap((r) => r.latencies);
  return {
    perSecond: acked / (PROBE_MS / 1000),
    p99: percentile(latencies, 99),
    refused: out.reduce((n, r) => n + r.refused, 0),
  };
}

async function main() {
  if (!existsSync(MAIN_JS)) throw new Error("dist/main.js is missing: run `npm run build` first");
  log(
    `soak: ${MINUTES} min, ${fmt(SOCKETS, 0)} sockets over ${CLIENTS} client processes (${CLIENT_IMPL === "lean" ? "lib/lean-ws.mjs" : "ws"}, nice ${CLIENT_NICE}), churn ${CHURN_PERCENT} %/s, ` +
      `a row every ${SAMPLE_MS / 1000} s; database ${scratch.dbName}; load average ${loadAvg()} at start`,
  );
  await scratch.createDatabase();
  const gw = await startGateway();
  const tokens = await signedInMitras(scratch.pool, Math.max(SOCKETS, PROBE_SOCKETS), scratch.jwtSecret, {
    online: true,
  });

  const probe = await probeCapacity(gw, tokens);
  const rate = FIXED_RATE || probe.perSecond / 2;
  const intervalMs = Math.max(MIN_GAP_MS, (SOCKETS / rate) * 1000);
  const churnPerSecond = Math.max(1, Math.round((SOCKETS * CHURN_PERCENT) / 100 / CLIENTS));
  log(
    `capacity (closed loop, ${fmt(PROBE_SOCKETS, 0)} sockets): ${fmt(probe.perSecond, 0)} heartbeats/s, ack p99 ` +
      `${fmt(probe.p99, 1)} ms${probe.refused ? `, ${probe.refused} refused` : ""}; soak rate ${fmt(rate, 0)}/s ` +
      `(each socket every ${fmt(intervalMs, 0)} ms), ${churnPerSecond * CLIENTS} reconnects/s`,
  );

  const rows = await soakPhase(gw, tokens, MINUTES, intervalMs, churnPerSecond);
  await gw.svc.stop("SIGTERM", 12_000);

  const summary = summarise(rows);
  log(summary.text);
  let baseline;
  if (BASELINE_MINUTES > 0) {
    log(
      `\nbaseline: the bare uWebSockets.js echo (baselines/echo-ws.mjs) under the same load for ${BASELINE_MINUTES} min; ` +
        `load average ${loadAvg()} at its start`,
    );
    const echo = await startEcho();
    const echoRows = await soakPhase(echo, tokens, BASELINE_MINUTES, intervalMs, churnPerSecond);
    await echo.svc.stop();
    baseline = compare(rows, echoRows);
    log(baseline.text);
  }
  const file = writeResults("soak", {
    minutes: MINUTES,
    baselineMinutes: BASELINE_MINUTES,
    sockets: SOCKETS,
    clients: CLIENTS,
    churnPercent: CHURN_PERCENT,
    probe,
    rate,
    intervalMs,
    rows,
    summary: summary.figures,
    baseline: baseline?.figures,
  });
  log(`(results: ${file})`);
  return 0;
}

/**
 * `minutes` of the steady load on `server` ({name, pid, wsUrl, events, read}): a row every
 * SAMPLE_MS (printed as it comes, with the cause under every window at or over the loop target).
 */
async function soakPhase(server, tokens, minutes, intervalMs, churnPerSecond) {
  const clients = startClients(SOAK_CLIENT_JS, CLIENTS);
  await Promise.all(clients.map((c) => c.ready));
  await connect(clients, server.wsUrl, tokens.slice(0, SOCKETS));
  await server.read(); // resets the loop histogram: the first row covers only its own window
  await Promise.all(clients.map((c) => c.call({ cmd: "run", intervalMs, churnPerSecond })));
  const t0 = performance.now();
  const end = t0 + minutes * 60_000;
  const rows = [];
  log(
    `\n${server.name}\n   t s   acked/s  ack p50  ack p99  errors unansw. reconn. (fail)  sockets   RSS MiB  heap MiB  loop p99  loop max  GC ms  CPU %  load  stalls ≥ ${STALL_MS} ms own/machine/other`,
  );
  let next = t0 + SAMPLE_MS;
  let prev = {
    gcSeconds: (await server.read()).gcSeconds,
    cpuUs: processCpuUs(server.pid),
    wallAt: absNow(),
  };
  server.events.length = 0;
  const profiled = server.debuggerUrl
    ? sleep(PROFILE_AT_MS || WARMUP_MS).then(() =>
        profileDuring(server.debuggerUrl, () => sleep(PROFILE_S * 1000)),
      )
    : null;
  while (next <= end + 1) {
    await sleep(Math.max(0, next - performance.now()));
    const marks = await Promise.all(clients.map((c) => c.call({ cmd: "mark" })));
    const m = await server.read();
    const wallAt = absNow();
    const latencies = marks.flatMap((x) => x.latencies);
    const cpuUs = processCpuUs(server.pid);
    // The watcher's lines for the window's last moments are still in the pipe.
    await sleep(250);
    const win = windowEvents(server.events, wallAt);
    const row = {
      t: Math.round((next - t0) / 1000),
      ackedPerSecond: marks.reduce((n, x) => n + x.acked, 0) / (SAMPLE_MS / 1000),
      ackP50: percentile(latencies, 50),
      ackP99: percentile(latencies, 99),
      errors: marks.reduce((n, x) => n + x.errors, 0),
      errorCodes: Object.assign({}, ...marks.map((x) => x.errorCodes)),
      unanswered: marks.reduce((n, x) => n + x.unanswered, 0),
      reconnects: marks.reduce((n, x) => n + x.reconnects, 0),
      reconnectFailures: marks.reduce((n, x) => n + x.reconnectFailures, 0),
      load: loadAvg(),
      ...m,
      /**
       * GC pause time (the gateway: prom-client's sum of every pause; the echo: the watcher's pauses
       * of 1 ms or more) and the server's CPU share (of one core) in this window.
       */
      gcMs: Number.isNaN(m.gcSeconds)
        ? win.gcs.reduce((n, g) => n + g.ms, 0)
        : (m.gcSeconds - prev.gcSeconds) * 1000,
      cpuPercent: ((cpuUs - prev.cpuUs) / (SAMPLE_MS * 1000)) * 100,
      stalls: win.stalls,
    };
    prev = { gcSeconds: m.gcSeconds, cpuUs };
    rows.push(row);
    const by = (cls) => win.stalls.filter((x) => x.cls === cls).length;
    log(
      `${String(row.t).padStart(6)} ${fmt(row.ackedPerSecond, 0).padStart(9)} ${fmt(row.ackP50, 2).padStart(8)} ` +
        `${fmt(row.ackP99, 2).padStart(8)} ${String(row.errors).padStart(7)} ${String(row.unanswered).padStart(7)} ` +
        `${String(row.reconnects).padStart(7)} ${`(${row.reconnectFailures})`.padStart(6)} ${fmt(row.sockets, 0).padStart(8)} ` +
        `${fmt(mib(row.rssBytes), 1).padStart(9)} ${fmt(mib(row.heapBytes), 1).padStart(9)} ` +
        `${fmt(row.loopP99Ms, 1).padStart(9)} ${fmt(row.loopMaxMs, 1).padStart(9)} ${fmt(row.gcMs, 0).padStart(6)} ` +
        `${fmt(row.cpuPercent, 0).padStart(6)} ${fmt(row.load, 2).padStart(5)}  ${by("own")}/${by("machine")}/${by("other")}`,
    );
    if (!(row.loopP99Ms < LOOP_P99_TARGET_MS)) {
      row.cause = cause(win, row);
      log(row.cause);
    }
    next += SAMPLE_MS;
  }
  for (const c of clients) {
    await c.call({ cmd: "stop" });
    c.kill();
  }
  scratch.clients = scratch.clients.filter((c) => !clients.includes(c));
  if (profiled) {
    const { profile } = await profiled;
    const file = writeResults(`soak-profile-${server.name}`, profile);
    log(
      `\nCPU profile of the ${server.name}, ${PROFILE_S} s from ${(PROFILE_AT_MS || WARMUP_MS) / 1000} s (the profiler's cost included; ${file}):`,
    );
    log(topFrames(profile, 30));
  }
  return rows;
}

/**
 * The watcher's events before wall-clock time `to` (taken out of `events`): loop stalls, each
 * classed and with the GC pauses and periodic jobs that overlap it, and every GC pause.
 */
function windowEvents(events, to) {
  const inside = [];
  const later = [];
  // A job's line comes when it ends: one that ends after `to` is kept for the next window too.
  for (const e of events) (e.at < to ? inside : later).push(e);
  events.length = 0;
  events.push(...later, ...inside.filter((e) => e.stall === "job" && e.at + e.ms >= to));
  // Nothing before `from` is dropped: a line that came after its window was read counts in the next one.
  const gcs = inside.filter((e) => e.stall === "gc");
  const jobs = inside.filter((e) => e.stall === "job");
  const overlaps = (a, b) => a.at <= b.at + b.ms && b.at <= a.at + a.ms;
  const stalls = inside
    .filter((e) => e.stall === "loop" && e.ms >= STALL_MS)
    .map((s) => ({
      at: s.at,
      ms: s.ms,
      runMs: s.runMs ?? s.cpuMs,
      waitMs: s.waitMs ?? 0,
      cls: stallClass(s.ms, s.runMs ?? s.cpuMs, s.waitMs ?? 0),
      gc: gcs.filter((g) => overlaps(g, s)).map((g) => `${g.kind} ${fmt(g.ms, 1)}`),
      jobs: [...new Set(jobs.filter((j) => overlaps(j, s)).map((j) => j.job))],
    }));
  // An own stall that starts right after one the machine caused may be the backlog of frames that
  // piled up while the loop thread waited for a CPU, answered in one turn.
  for (const [i, s] of stalls.entries()) {
    const before = stalls[i - 1];
    if (s.cls === "own" && before && before.cls !== "own" && s.at - (before.at + before.ms) <= CATCH_UP_MS)
      s.catchUpAfterMs = before.ms;
  }
  return { stalls, gcs, jobs };
}

/**
 * Whose a stall was, from the loop thread's time across it: on a CPU more than in the run queue, ours
 * (our code or GC held the loop); the other way round, the machine's (its other load had the cores).
 * Neither for most of it: "other" (the thread slept: a blocking call, or waiting for GC helpers).
 */
function stallClass(ms, runMs, waitMs) {
  if (runMs + waitMs < ms / 2) return "other";
  return runMs >= waitMs ? "own" : "machine";
}

/** One line under a bad window: its stalls by class, and for ours the GC pauses and jobs inside them. */
function cause(win, row) {
  const sum = (xs, k) => xs.reduce((n, x) => n + x[k], 0);
  const own = win.stalls.filter((s) => s.cls === "own");
  const machine = win.stalls.filter((s) => s.cls === "machine");
  const other = win.stalls.filter((s) => s.cls === "other");
  const verdict =
    win.stalls.length === 0
      ? "no stall ≥ 10 ms seen by the watcher"
      : sum(own, "ms") > sum(machine, "ms") + sum(other, "ms")
        ? "OURS"
        : "the MACHINE's";
  const tags = (s) =>
    [
      ...s.jobs,
      ...s.gc.map((g) => `gc ${g}`),
      ...(s.catchUpAfterMs ? [`${fmt(s.catchUpAfterMs, 0)} ms machine stall just before`] : []),
    ].join(", ") || "no job, no GC";
  const ownList = own
    .sort((a, b) => b.ms - a.ms)
    .slice(0, 4)
    .map((s) => `${fmt(s.ms, 0)} ms (${tags(s)})`)
    .join("; ");
  return (
    `        ↳ ${verdict}: ${win.stalls.length} stalls, max ${fmt(Math.max(0, ...win.stalls.map((s) => s.ms)), 0)} ms; ` +
    `machine ${machine.length} (${fmt(sum(machine, "ms"), 0)} ms, loop thread waiting for a CPU ${fmt(sum(machine, "waitMs"), 0)} ms), ` +
    `ours ${own.length} (${fmt(sum(own, "ms"), 0)} ms${ownList ? `: ${ownList}` : ""}), other ${other.length}; ` +
    `jobs in the window: ${[...new Set(win.jobs.map((j) => j.job))].join(", ") || "none"}; CPU ${fmt(row.cpuPercent, 0)} %`
  );
}

/** The gateway's loop p99 per window beside the echo's, and the counts that say whether 20 ms is reachable here. */
function compare(rows, echoRows) {
  const over = (xs) => xs.filter((r) => !(r.loopP99Ms < LOOP_P99_TARGET_MS)).length;
  const p = (xs, q) =>
    percentile(
      xs.map((r) => r.loopP99Ms),
      q,
    );
  const stallsPerMin = (xs, cls) =>
    xs.reduce((n, r) => n + r.stalls.filter((s) => s.cls === cls).length, 0) /
    ((xs.length * SAMPLE_MS) / 60_000);
  const side = (xs) => ({
    windows: xs.length,
    overTarget: over(xs),
    loopP99MedianMs: p(xs, 50),
    loopP99WorstMs: Math.max(...xs.map((r) => r.loopP99Ms)),
    ownStallsPerMin: stallsPerMin(xs, "own"),
    machineStallsPerMin: stallsPerMin(xs, "machine"),
    otherStallsPerMin: stallsPerMin(xs, "other"),
    ownCatchUpShare:
      xs.reduce((n, r) => n + r.stalls.filter((x) => x.catchUpAfterMs).length, 0) /
      Math.max(
        1,
        xs.reduce((n, r) => n + r.stalls.filter((x) => x.cls === "own").length, 0),
      ),
    ownWithJobOrGc: xs.reduce(
      (n, r) => n + r.stalls.filter((x) => x.cls === "own" && (x.jobs.length || x.gc.length)).length,
      0,
    ),
    ownStalls: xs.reduce((n, r) => n + r.stalls.filter((x) => x.cls === "own").length, 0),
    cpuPercentMean: xs.reduce((n, r) => n + r.cpuPercent, 0) / xs.length,
    loadMean: xs.reduce((n, r) => n + r.load, 0) / xs.length,
  });
  const f = { gateway: side(rows), echo: side(echoRows) };
  f.gatewayBadOurs = rows.filter((r) => r.cause?.includes("OURS")).length;
  const lines = [
    "",
    `loop p99 per ${SAMPLE_MS / 1000} s window (ms): window, gateway, echo baseline. Both read a 10 ms ` +
      "monitorEventLoopDelay histogram, which records the whole interval between its ticks: an idle loop reads " +
      "~10 ms, so 20 ms is a tick 10 ms late (the watcher's stalls ≥ 10 ms are those ticks).",
  ];
  const n = Math.max(rows.length, echoRows.length);
  for (let i = 0; i < n; i += 6) {
    const cell = (xs, k) => (xs[k] ? fmt(xs[k].loopP99Ms, 1) : "-").padStart(5);
    lines.push(
      Array.from(
        { length: Math.min(6, n - i) },
        (_, j) => `${String(i + j + 1).padStart(4)} ${cell(rows, i + j)} ${cell(echoRows, i + j)}`,
      ).join("   "),
    );
  }
  const d = (x) =>
    `${x.overTarget} of ${x.windows} windows ≥ ${LOOP_P99_TARGET_MS} ms (median ${fmt(x.loopP99MedianMs, 1)}, worst ${fmt(x.loopP99WorstMs, 1)} ms); ` +
    `stalls ≥ ${STALL_MS} ms a minute: ${fmt(x.ownStallsPerMin, 1)} own, ${fmt(x.machineStallsPerMin, 1)} machine, ` +
    `${fmt(x.otherStallsPerMin, 1)} other (own: ${x.ownWithJobOrGc} of ${x.ownStalls} with a job or GC pause inside, ` +
    `${fmt(x.ownCatchUpShare * 100, 0)} % right after a machine stall); CPU ${fmt(x.cpuPercentMean, 0)} % of a core; load ${fmt(x.loadMean, 2)}`;
  lines.push(`gateway: ${d(f.gateway)}; bad windows mostly ours: ${f.gatewayBadOurs}`);
  lines.push(`echo:    ${d(f.echo)}`);
  return { text: lines.join("\n"), figures: f };
}
/**
 * Growth from the first minute after warm-up to the last minute (means of its rows: RSS swings with
 * each major GC, so one row against one row would mostly measure where the GC cycle was), and the verdict.
 */
function summarise(rows) {
  const mean = (xs, key) => xs.reduce((n, r) => n + r[key], 0) / xs.length;
  const steady = rows.filter((r) => r.t * 1000 > WARMUP_MS);
  const perMinute = Math.max(1, Math.round(60_000 / SAMPLE_MS));
  const first = steady.slice(0, perMinute);
  const last = steady.slice(-perMinute);
  if (first.length === 0) return { text: "\nrun too short for a warm-up and a steady part", figures: {} };
  const growth = (key) => mean(last, key) / mean(first, key) - 1;
  const f = {
    warmupSeconds: WARMUP_MS / 1000,
    rssFirstMiB: mib(mean(first, "rssBytes")),
    rssLastMiB: mib(mean(last, "rssBytes")),
    rssGrowth: growth("rssBytes"),
    rssTrend: trend(steady, "rssBytes"),
    heapGrowth: growth("heapBytes"),
    loopP99WorstMs: Math.max(...rows.map((r) => r.loopP99Ms)),
    loopP99WorstSteadyMs: Math.max(...steady.map((r) => r.loopP99Ms)),
    windowsOverLoopTarget: rows.filter((r) => !(r.loopP99Ms < LOOP_P99_TARGET_MS)).length,
    gcMsPerWindowMean: mean(steady, "gcMs"),
    cpuPercentMean: mean(steady, "cpuPercent"),
    ackP99WorstMs: Math.max(...rows.map((r) => r.ackP99)),
    errors: rows.reduce((n, r) => n + r.errors, 0),
    unanswered: rows.reduce((n, r) => n + r.unanswered, 0),
    reconnects: rows.reduce((n, r) => n + r.reconnects, 0),
    reconnectFailures: rows.reduce((n, r) => n + r.reconnectFailures, 0),
    loadMean: mean(rows, "load"),
  };
  const pct = (x) => `${x >= 0 ? "+" : ""}${fmt(x * 100, 1)} %`;
  const verdict = (ok) => (ok ? "PASS" : "FAIL");
  const text = [
    "",
    `after the ${f.warmupSeconds} s warm-up: RSS ${fmt(f.rssFirstMiB, 1)} → ${fmt(f.rssLastMiB, 1)} MiB ` +
      `(${pct(f.rssGrowth)}; target < ${RSS_GROWTH_TARGET * 100} %: ${verdict(f.rssGrowth < RSS_GROWTH_TARGET)}), ` +
      `heap used ${pct(f.heapGrowth)}`,
    `RSS trend after warm-up (least squares over every row): ${f.rssTrend.perMinute >= 0 ? "+" : ""}` +
      `${fmt(mib(f.rssTrend.perMinute), 2)} MiB/min, ${pct(f.rssTrend.growth)} from the fit's first row to its last`,
    `event-loop p99, worst ${SAMPLE_MS / 1000} s window: ${fmt(f.loopP99WorstMs, 1)} ms, after warm-up ` +
      `${fmt(f.loopP99WorstSteadyMs, 1)} ms; ${f.windowsOverLoopTarget} of ${rows.length} windows at or over ` +
      `${LOOP_P99_TARGET_MS} ms (target: none: ${verdict(f.windowsOverLoopTarget === 0)}); ack p99, worst window: ` +
      `${fmt(f.ackP99WorstMs, 1)} ms`,
    `after warm-up, per window: GC ${fmt(f.gcMsPerWindowMean, 0)} ms, gateway CPU ${fmt(f.cpuPercentMean, 0)} % of a core`,
    `errors ${f.errors}, unanswered ${f.unanswered}, reconnects ${fmt(f.reconnects, 0)} (${f.reconnectFailures} failed); ` +
      `mean 1-min load average ${fmt(f.loadMean, 2)} on ${availableParallelism()} cores`,
  ].join("\n");
  return { text, figures: f };
}

/** Least-squares line of rows[key] over time: its slope per minute and its growth over the rows' span. */
function trend(rows, key) {
  const n = rows.length;
  const xs = rows.map((r) => r.t / 60);
  const ys = rows.map((r) => r[key]);
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const perMinute = sxx > 0 ? sxy / sxx : 0;
  const at = (x) => my + perMinute * (x - mx);
  return { perMinute, growth: at(xs[n - 1]) / at(xs[0]) - 1 };
}

await runWithDeadline({
  name: "soak",
  main,
  cleanup: scratch.cleanup,
  log,
  dbName: scratch.dbName,
  stopping: "the gateway and the clients",
  // The baseline's minutes too: without them the deadline cut the first full run 30 s before its end.
  deadlineMs: (MINUTES + BASELINE_MINUTES) * 60_000 + 300_000,
});
