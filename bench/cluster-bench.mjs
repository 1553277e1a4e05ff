/**
 * Valkey Cluster benchmark (see bench/README.md): the gateway's heartbeat
 * cost on a 3-primary cluster against the same gateway on one Valkey, in one
 * run, and how fan-out spreads over the primaries.
 *
 *   1. Heartbeats, single Valkey vs cluster, the two interleaved run by run:
 *      one gateway process (dist/main.js) with BENCH_CLUSTER_SOCKETS (2000)
 *      authenticated mitra sockets; an open loop at BENCH_CLUSTER_RATE
 *      (2000) heartbeats/s for BENCH_CLUSTER_SECONDS (10) after a 2 s
 *      warm-up, then a closed loop on 1000 of them for 5 s, unpaced (as fast
 *      as the acks come) and then paced to BENCH_CLUSTER_PACED_RATE (8000)
 *      heartbeats/s, so the two modes are also compared at the same rate
 *      (unpaced, the rate follows the machine's load, and the CPU per
 *      heartbeat follows the rate: fewer frames per wake-up). Server CPU µs per
 *      heartbeat (from /proc/<pid>/stat at the window's edges), ack p50/p99,
 *      the cluster/single ratio (target ≤ 1.15), and the Valkey calls per
 *      heartbeat of each mode (INFO commandstats of every server it uses,
 *      Lua's inner calls included), so a path that costs the cluster more
 *      round trips shows as a count, not only as CPU.
 *   2. Fan-out spread: bench/chat-bench.mjs once (BENCH_RUNS=1, 5 s), its
 *      three gateways on the cluster; SPUBLISH calls counted on every primary
 *      (INFO commandstats) before and after: each primary's share.
 *
 * The cluster is its own (scripts/valkey-cluster.sh on BENCH_CLUSTER_BASE_PORT,
 * 7300, under a temporary dir), stopped at the end; so is the single Valkey
 * (the same server binary on BENCH_CLUSTER_BASE_PORT + 9, no persistence),
 * unless BENCH_VALKEY_URL names one (then others' traffic on it counts in
 * its commandstats).
 *
 *   npm run build && node bench/cluster-bench.mjs
 *
 * BENCH_RUNS (3), BENCH_CLUSTER_SECTIONS (heartbeat,fanout), BENCH_PG_ADMIN_URL,
 * BENCH_VALKEY_URL, BENCH_QUIET_WAIT_SECONDS override defaults;
 * BENCH_CLUSTER_NODE_ARGS adds node flags to the gateway (e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof" for a profile of each gateway).
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Redis from "ioredis";
import pg from "pg";
import { migrate } from "../dist/db/migrate.js";
import { runInterruptible } from "./lib/bench-lifecycle.mjs";
import { BASE_ENV, nodeCommand, startChild } from "./lib/child-service.mjs";
import { waitForQuiet } from "./lib/machine-load.mjs";
import { processCpuUs } from "./lib/proc-stat.mjs";
import { writeResults } from "./lib/results-file.mjs";
import { createDatabase, deleteValkeyKeys, dropDatabase, scratchDatabaseUrl } from "./lib/scratch-stores.mjs";
import { signedInMitras } from "./lib/signed-in-mitras.mjs";
import { fmt, median, percentile } from "./lib/stats.mjs";

const env = process.env;
const int = (v, d) => (v && /^\d+$/.test(v) ? Number(v) : d);
const RUNS = int(env.BENCH_RUNS, 3);
const SOCKETS = int(env.BENCH_CLUSTER_SOCKETS, 2000);
const RATE = int(env.BENCH_CLUSTER_RATE, 2000);
const OPEN_MS = int(env.BENCH_CLUSTER_SECONDS, 10) * 1000;
const WARMUP_MS = 2000;
const CLOSED_SOCKETS = Math.min(SOCKETS, 1000);
const CLOSED_MS = 5000;
const PACED_RATE = int(env.BENCH_CLUSTER_PACED_RATE, 8000);
const CLIENTS = 2;
const BASE_PORT = int(env.BENCH_CLUSTER_BASE_PORT, 7300);
const SECTIONS = (env.BENCH_CLUSTER_SECTIONS ?? "heartbeat,fanout").split(",");
const CPU_RATIO_TARGET = 1.15;
const QUIET_BELOW = 0.15;
const QUIET_WAIT_MS = int(env.BENCH_QUIET_WAIT_SECONDS, 20) * 1000;
const PG_ADMIN_URL = env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const SINGLE_PORT = BASE_PORT + 9;
const VALKEY_URL = env.BENCH_VALKEY_URL ?? `redis://127.0.0.1:${SINGLE_PORT}`;
const NODE_ARGS = (env.BENCH_CLUSTER_NODE_ARGS ?? "").split(" ").filter(Boolean);
const FD_LIMIT = SOCKETS + 4096;

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const MAIN_JS = path("../dist/main.js");
const CLIENT_JS = path("./lib/ws-client.mjs");
const CLUSTER_SH = path("../scripts/valkey-cluster.sh");
const CHAT_BENCH = path("./chat-bench.mjs");

const DB_NAME = `halo_bench_cluster_${process.pid}`;
const KEY_ROOT = `halo_bench_cluster_${process.pid}:`;
const CLUSTER_DIR = join(tmpdir(), `halo-bench-cluster-${process.pid}`);
const JWT_SECRET = randomBytes(36).toString("base64url");
const DATABASE_URL = scratchDatabaseUrl(PG_ADMIN_URL, DB_NAME);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);
const absNow = () => performance.timeOrigin + performance.now();
const run = promisify(execFile);

const owned = { children: new Set(), clients: [], dbCreated: false, cluster: false, single: null };

async function cleanup() {
  for (const c of owned.clients.splice(0)) c.kill();
  for (const svc of [...owned.children]) await svc.stop("SIGTERM", 5000).catch(() => {});
  if (owned.cluster) await run("bash", [CLUSTER_SH, "stop", "--dir", CLUSTER_DIR]).catch(() => {});
  owned.cluster = false;
  if (owned.single && owned.single.exitCode === null) owned.single.kill("SIGKILL");
  owned.single = null;
  if (owned.dbCreated) await dropDatabase(PG_ADMIN_URL, DB_NAME).catch((e) => log(`drop: ${e.message}`));
  owned.dbCreated = false;
  // A private single server took its keys with it.
  if (env.BENCH_VALKEY_URL) await deleteValkeyKeys(VALKEY_URL, KEY_ROOT).catch(() => {});
}

// ---------------------------------------------------------------- servers and clients

async function startGateway(mode, clusterNodes) {
  const svc = startChild({
    name: `gateway (${mode})`,
    args: [...NODE_ARGS, MAIN_JS],
    fdLimit: FD_LIMIT,
    env: {
      ...BASE_ENV,
      NODE_ENV: "test",
      LOG_LEVEL: "info",
      PUBLIC_HOST: "127.0.0.1",
      PUBLIC_PORT: "0",
      INTERNAL_HOST: "127.0.0.1",
      INTERNAL_PORT: "0",
      DATABASE_URL,
      ...(mode === "cluster" ? { VALKEY_CLUSTER_NODES: clusterNodes } : { VALKEY_URL }),
      VALKEY_KEY_PREFIX: `${KEY_ROOT}${mode}:`,
      AUTH_JWT_SECRET: JWT_SECRET,
    },
    isReady: (j) => j.msg === "listening",
  });
  owned.children.add(svc);
  svc.child.once("exit", () => owned.children.delete(svc));
  const l = await svc.ready;
  const pid = svc.child.pid;
  const internalUrl = `http://127.0.0.1:${l.internalPort}`;
  return {
    svc,
    wsUrl: `ws://127.0.0.1:${l.publicPort}/ws`,
    cpu: () => ({ at: performance.now(), cpuUs: processCpuUs(pid) }),
    async metric(name) {
      const text = await (await fetch(`${internalUrl}/metrics`)).text();
      return text
        .split("\n")
        .filter((line) => line.startsWith(name))
        .reduce((n, line) => n + Number(line.split(" ").pop()), 0);
    },
  };
}

function startClient(k) {
  const [command, argv] = nodeCommand([CLIENT_JS], FD_LIMIT);
  const child = spawn(command, argv, { env: BASE_ENV, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiters = [];
  child.on("message", (m) => waiters.shift()?.resolve(m));
  child.once("exit", (code, signal) => {
    for (const w of waiters.splice(0)) w.reject(new Error(`client ${k} exited (${code ?? signal})`));
  });
  const client = {
    k,
    localAddress: `127.0.0.${20 + k}`,
    async call(msg) {
      const reply = new Promise((resolve, reject) => waiters.push({ resolve, reject }));
      child.send(msg);
      const r = await reply;
      if (r.type === "error") throw new Error(`client ${k}: ${r.message}`);
      return r;
    },
    kill: () => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"),
  };
  owned.clients.push(client);
  return client;
}

async function connectAll(clients, gw, tokens) {
  const replies = await Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "connect",
        url: gw.wsUrl,
        tokens: tokens.filter((_, i) => i % clients.length === c.k),
        localAddress: c.localAddress,
        concurrency: 50,
      }),
    ),
  );
  const failed = replies.reduce((n, r) => n + r.failed, 0);
  if (failed > 0)
    throw new Error(`${failed} sockets did not open (${replies.find((r) => r.firstError)?.firstError})`);
}

// ---------------------------------------------------------------- section 1: heartbeats

/** Valkey's own bookkeeping and this bench's probes: not the gateway's calls. */
const NOT_THE_GATEWAYS = new Set(["info", "replconf", "psync"]);

/** Calls per command (INFO commandstats, Lua's inner calls included), summed over the servers on `ports`. */
async function commandCalls(ports) {
  const out = {};
  for (const port of ports) {
    const c = new Redis({ port, host: "127.0.0.1", lazyConnect: true, enableReadyCheck: false });
    await c.connect();
    const text = await c.info("commandstats");
    c.disconnect();
    for (const [, name, calls] of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
      if (!NOT_THE_GATEWAYS.has(name)) out[name] = (out[name] ?? 0) + Number(calls);
  }
  return out;
}

function callsBetween(before, after) {
  const out = {};
  for (const [name, n] of Object.entries(after))
    if (n > (before[name] ?? 0)) out[name] = n - (before[name] ?? 0);
  return out;
}

const totalCalls = (calls) => Object.values(calls).reduce((a, b) => a + b, 0);
/** "evalsha 101, sismember 25,000, …": the commands of a window, most called first. */
const topCalls = (calls) =>
  Object.entries(calls)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([name, n]) => `${name} ${fmt(n, 0)}`)
    .join(", ");

async function openLoop(clients, gw, valkeyPorts) {
  const startAt = absNow() + 300;
  const windowAt = startAt + WARMUP_MS;
  const intervalMs = (SOCKETS / RATE) * 1000;
  const offsets = clients.map((c) =>
    Array.from(
      { length: Math.ceil((SOCKETS - c.k) / clients.length) },
      (_, i) => ((c.k + i * clients.length) / SOCKETS) * intervalMs,
    ),
  );
  const replies = Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "open-loop",
        startAt,
        intervalMs,
        warmupMs: WARMUP_MS,
        durationMs: OPEN_MS,
        offsets: offsets[c.k],
      }),
    ),
  );
  await sleep(Math.max(0, windowAt - absNow()));
  const c0 = gw.cpu();
  const k0 = await commandCalls(valkeyPorts);
  await sleep(Math.max(0, windowAt + OPEN_MS - absNow()));
  const c1 = gw.cpu();
  const calls = callsBetween(k0, await commandCalls(valkeyPorts));
  const out = await replies;
  const acked = out.reduce((n, x) => n + x.acked, 0);
  const latencies = out.flatMap((x) => x.latencies);
  return {
    perSecond: acked / (OPEN_MS / 1000),
    cpuUsPerOp: (c1.cpuUs - c0.cpuUs) / acked,
    valkeyCallsPerOp: totalCalls(calls) / acked,
    calls,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors: out.reduce((n, x) => n + x.errors + x.unanswered, 0),
  };
}

async function closedLoop(clients, gw, valkeyPorts, rate = 0) {
  const k0 = await commandCalls(valkeyPorts);
  const c0 = gw.cpu();
  const out = await Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "closed-loop",
        sockets: Math.floor(CLOSED_SOCKETS / clients.length),
        durationMs: CLOSED_MS,
        minGapMs: rate > 0 ? (CLOSED_SOCKETS / rate) * 1000 : 0,
        throttleGapMs: 20,
        phase: { first: c.k, stride: clients.length, of: CLOSED_SOCKETS },
      }),
    ),
  );
  const c1 = gw.cpu();
  const calls = callsBetween(k0, await commandCalls(valkeyPorts));
  const acked = out.reduce((n, x) => n + x.acked, 0);
  const elapsedMs = Math.max(...out.map((x) => x.elapsedMs));
  const latencies = out.flatMap((x) => x.latencies);
  return {
    perSecond: out.reduce((n, x) => n + x.ackedInWindow, 0) / (elapsedMs / 1000),
    cpuUsPerOp: (c1.cpuUs - c0.cpuUs) / acked,
    valkeyCallsPerOp: totalCalls(calls) / acked,
    calls,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    errors: out.reduce((n, x) => n + x.errors + x.refused, 0),
  };
}

async function heartbeatSection(clusterNodes, tokens, results) {
  // The primaries: a replica's commandstats count what replication applies, not calls the gateway made.
  const primaries = clusterNodes.split(",").map((n) => Number(n.split(":").pop()));
  const singlePort = Number(new URL(VALKEY_URL).port || 6379);
  const clients = Array.from({ length: CLIENTS }, (_, k) => startClient(k));
  for (let r = 1; r <= RUNS; r++) {
    // Interleaved, and the order alternates, so a drift in the machine's load hits both alike.
    for (const mode of r % 2 ? ["single", "cluster"] : ["cluster", "single"]) {
      const busy = await waitForQuiet(QUIET_BELOW, QUIET_WAIT_MS);
      const gw = await startGateway(mode, clusterNodes);
      await connectAll(clients, gw, tokens);
      await sleep(1000);
      const ports = mode === "cluster" ? primaries : [singlePort];
      const open = await openLoop(clients, gw, ports);
      const closed = await closedLoop(clients, gw, ports);
      const paced = await closedLoop(clients, gw, ports, PACED_RATE);
      const fallbacks = await gw.metric("halo_valkey_fallbacks_total");
      await Promise.all(clients.map((c) => c.call({ cmd: "close-all" })));
      await gw.svc.stop();
      results.push({ run: r, mode, busyBefore: busy, open, closed, paced, fallbacks });
      log(
        `run ${r} ${mode.padEnd(7)} (machine ${fmt(busy * 100, 0)} % busy before${busy >= QUIET_BELOW ? ": NOT QUIET" : ""}): ` +
          `open ${fmt(open.cpuUsPerOp)} µs/hb p99 ${fmt(open.p99Ms, 2)} ms; ` +
          `closed ${fmt(closed.perSecond, 0)}/s ${fmt(closed.cpuUsPerOp)} µs/hb p99 ${fmt(closed.p99Ms, 2)} ms; ` +
          `paced ${fmt(paced.perSecond, 0)}/s ${fmt(paced.cpuUsPerOp)} µs/hb p99 ${fmt(paced.p99Ms, 2)} ms; ` +
          `errors ${open.errors + closed.errors + paced.errors}, Valkey fallbacks ${fallbacks}`,
      );
      log(
        `      Valkey calls per hb: open ${fmt(open.valkeyCallsPerOp, 2)} (${topCalls(open.calls)}); ` +
          `closed ${fmt(closed.valkeyCallsPerOp, 2)} (${topCalls(closed.calls)}); ` +
          `paced ${fmt(paced.valkeyCallsPerOp, 2)}`,
      );
    }
  }
  const med = (mode, w, k) => median(results.filter((x) => x.mode === mode).map((x) => x[w][k]));
  const rows = [];
  const label = {
    open: `open loop, ${RATE}/s on ${SOCKETS}`,
    closed: `closed loop, ${CLOSED_SOCKETS} sockets`,
    paced: `closed loop paced to ${PACED_RATE}/s`,
  };
  for (const w of ["open", "closed", "paced"]) {
    const single = med("single", w, "cpuUsPerOp");
    const cluster = med("cluster", w, "cpuUsPerOp");
    const ratio = cluster / single;
    rows.push(
      `| ${label[w]} ` +
        `| ${fmt(single)} | ${fmt(cluster)} | ${fmt(ratio, 2)}× ${ratio <= CPU_RATIO_TARGET ? "PASS" : "FAIL"} ` +
        `| ${fmt(med("single", w, "p99Ms"), 2)} / ${fmt(med("cluster", w, "p99Ms"), 2)} ` +
        `| ${fmt(med("single", w, "perSecond"), 0)} / ${fmt(med("cluster", w, "perSecond"), 0)} ` +
        `| ${fmt(med("single", w, "valkeyCallsPerOp"), 2)} / ${fmt(med("cluster", w, "valkeyCallsPerOp"), 2)} |`,
    );
  }
  return [
    `Heartbeat server CPU, single Valkey vs 3-primary cluster (median of ${RUNS} runs; target cluster ≤ ${CPU_RATIO_TARGET}× single)`,
    "",
    "| window | single µs/hb | cluster µs/hb | cluster/single | ack p99 ms single / cluster | hb/s single / cluster | Valkey calls/hb single / cluster |",
    "|---|---|---|---|---|---|---|",
    ...rows,
  ];
}

// ---------------------------------------------------------------- section 2: fan-out spread

async function spublishByPrimary(ports) {
  const out = {};
  for (const port of ports) out[port] = (await commandCalls([port])).spublish ?? 0;
  return out;
}

async function fanoutSection(clusterNodes, basePort) {
  const ports = [basePort, basePort + 1, basePort + 2];
  const before = await spublishByPrimary(ports);
  log("fan-out: bench/chat-bench.mjs (BENCH_RUNS=1, 5 s) with its gateways on the cluster …");
  const { stdout } = await run(process.execPath, [CHAT_BENCH], {
    env: {
      ...process.env,
      BENCH_RUNS: "1",
      BENCH_CHAT_SECONDS: "5",
      BENCH_VALKEY_CLUSTER_NODES: clusterNodes,
    },
    maxBuffer: 16 * 1024 * 1024,
    timeout: 10 * 60_000,
  });
  const after = await spublishByPrimary(ports);
  const calls = ports.map((p) => after[p] - before[p]);
  const total = calls.reduce((a, b) => a + b, 0);
  // chat-bench's summary (its last lines): delivery latency and CPU with its gateways on the cluster.
  const chatTable = stdout.trimEnd().split("\n").slice(-16);
  return [
    "Fan-out spread: SPUBLISH calls per primary during one chat-bench run (16 event shard channels)",
    "",
    "| primary | SPUBLISH calls | share |",
    "|---|---|---|",
    ...ports.map((p, i) => `| 127.0.0.1:${p} | ${calls[i]} | ${fmt((calls[i] / total) * 100, 0)} % |`),
    "",
    "chat-bench's own summary, its gateways on the cluster:",
    ...chatTable,
  ];
}

/** The single Valkey of the heartbeat section: the cluster's server binary, alone on SINGLE_PORT, nothing persisted. */
async function startSingleValkey() {
  const { stdout } = await run("bash", ["-c", "command -v valkey-server || command -v redis-server"]);
  const args = ["--port", String(SINGLE_PORT), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  owned.single = spawn(stdout.trim(), args, { stdio: "ignore" });
  for (let i = 0; i < 50; i++) {
    const c = new Redis({
      port: SINGLE_PORT,
      host: "127.0.0.1",
      lazyConnect: true,
      retryStrategy: () => null,
    });
    c.on("error", () => {}); // refused while the server starts: the loop retries
    const up = await c.connect().then(
      () => c.ping().then(() => true),
      () => false,
    );
    c.disconnect();
    if (up) return;
    await sleep(100);
  }
  throw new Error(`the single Valkey on ${SINGLE_PORT} did not start`);
}

// ---------------------------------------------------------------- main

async function main() {
  log(
    `cluster-bench: database ${DB_NAME}, load average ${loadavg()
      .map((x) => fmt(x, 2))
      .join(" ")}`,
  );
  log(`starting a private cluster on ${BASE_PORT}-${BASE_PORT + 5} (${CLUSTER_DIR}) …`);
  owned.cluster = true;
  const { stdout } = await run("bash", [
    CLUSTER_SH,
    "start",
    "--base-port",
    String(BASE_PORT),
    "--dir",
    CLUSTER_DIR,
  ]);
  const clusterNodes = stdout.trim().split("\n").pop().replace("VALKEY_CLUSTER_NODES=", "");
  const table = [];
  const results = [];
  if (SECTIONS.includes("heartbeat")) {
    if (!env.BENCH_VALKEY_URL) await startSingleValkey();
    await createDatabase(PG_ADMIN_URL, DB_NAME);
    owned.dbCreated = true;
    await migrate(DATABASE_URL);
    const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
    const tokens = await signedInMitras(pool, SOCKETS, JWT_SECRET);
    await pool.end();
    table.push(...(await heartbeatSection(clusterNodes, tokens, results)), "");
  }
  if (SECTIONS.includes("fanout")) table.push(...(await fanoutSection(clusterNodes, BASE_PORT)));
  log("");
  for (const line of table) log(line);
  log(
    `\nload average at the end: ${loadavg()
      .map((x) => fmt(x, 2))
      .join(" ")}`,
  );
  const file = writeResults("cluster-bench", {
    settings: { RUNS, SOCKETS, RATE, OPEN_MS, CLOSED_SOCKETS, PACED_RATE },
    results,
    table,
  });
  log(`results: ${file}`);
}

runInterruptible({ name: "cluster-bench", main, cleanup, log, dbName: DB_NAME });
