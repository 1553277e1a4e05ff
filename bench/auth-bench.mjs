/**
 * Auth benchmark (see bench/README.md). Starts the built gateway (dist/main.js)
 * as a child process against a database and a Valkey key prefix of its own,
 * drives it from worker threads over loopback, and compares it with baselines
 * measured in the same run:
 *
 *   1. event-loop delay while 20 operator logins/s arrive (open loop), against
 *      the same gateway idle and a naive sync-bcrypt server;
 *   2. refresh-chain throughput and 3. anonymous sign-in throughput (closed
 *      loop, N clients), against a bare uWS + pg INSERT + JWT server.
 *
 * Server CPU per operation comes from the server's own counters
 * (process_cpu_seconds_total on /metrics, process.cpuUsage in the baselines).
 *
 *   npm run build && node bench/auth-bench.mjs
 *
 * BENCH_RUNS (3), BENCH_LOGIN_SECONDS (10), BENCH_THROUGHPUT_SECONDS (4),
 * BENCH_CLIENTS (32), BENCH_PG_ADMIN_URL, BENCH_VALKEY_URL override defaults;
 * BENCH_HASH_CONCURRENCY sets the gateway's CC_PASSWORD_HASH_CONCURRENCY.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { BASE_ENV, startChild } from "./lib/child-service.mjs";
import { jwtKeyCost } from "./lib/jwt-key-cost.mjs";
import { waitForQuiet } from "./lib/machine-load.mjs";
import { scrapeGateway } from "./lib/prom-text.mjs";
import { writeResults } from "./lib/results-file.mjs";
import {
  createDatabase as createScratchDatabase,
  deleteValkeyKeys as deleteScratchKeys,
  dropDatabase as dropScratchDatabase,
  scratchDatabaseUrl,
} from "./lib/scratch-stores.mjs";
import { fmt, median, percentile } from "./lib/stats.mjs";

const env = process.env;
const int = (v, d) => (v && /^\d+$/.test(v) ? Number(v) : d);
const RUNS = int(env.BENCH_RUNS, 3);
const LOGIN_MS = int(env.BENCH_LOGIN_SECONDS, 10) * 1000;
const THROUGHPUT_MS = int(env.BENCH_THROUGHPUT_SECONDS, 4) * 1000;
const WARMUP_MS = 1000;
const CLIENTS = int(env.BENCH_CLIENTS, 32);
const LOGIN_RATE = 20;
const TARGET_P99_MS = 20;
/** Machine busy share (all cores) above which a run is "not quiet": another process is competing. */
const QUIET_BELOW = 0.15;
const QUIET_WAIT_MS = int(env.BENCH_QUIET_WAIT_SECONDS, 20) * 1000;
const PG_ADMIN_URL = env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const VALKEY_URL = env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const MAIN_JS = path("../dist/main.js");
const WORKER_JS = path("./lib/load-worker.mjs");
const SYNC_BCRYPT_JS = path("./baselines/sync-bcrypt-login.mjs");
const BARE_SIGNIN_JS = path("./baselines/bare-signin.mjs");

const DB_NAME = `halo_bench_${process.pid}`;
const KEY_PREFIX = `halo_bench_${process.pid}:`;
const JWT_SECRET = randomBytes(36).toString("base64url");
const ADMIN = { email: "bench-admin@example.com", password: "Bench-Admin-2026" };
const DATABASE_URL = scratchDatabaseUrl(PG_ADMIN_URL, DB_NAME);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);

// ---------------------------------------------------------------- resources

const owned = { children: new Set(), workers: new Set(), dbCreated: false };

async function createDatabase() {
  await createScratchDatabase(PG_ADMIN_URL, DB_NAME);
  owned.dbCreated = true;
}

async function dropDatabase() {
  if (!owned.dbCreated) return;
  await dropScratchDatabase(PG_ADMIN_URL, DB_NAME);
  owned.dbCreated = false;
}

const deleteValkeyKeys = () => deleteScratchKeys(VALKEY_URL, KEY_PREFIX);

function track(svc) {
  owned.children.add(svc);
  svc.child.once("exit", () => owned.children.delete(svc));
  return svc;
}

async function cleanup() {
  for (const w of owned.workers) await w.terminate().catch(() => {});
  for (const svc of [...owned.children]) await svc.stop("SIGTERM", 5000).catch(() => {});
  await dropDatabase().catch((err) => log(`could not drop ${DB_NAME}: ${err.message}`));
  await deleteValkeyKeys().catch((err) => log(`could not delete ${KEY_PREFIX}* keys: ${err.message}`));
}

// ---------------------------------------------------------------- services

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
        VALKEY_KEY_PREFIX: KEY_PREFIX,
        AUTH_JWT_SECRET: JWT_SECRET,
        ADMIN_EMAIL: ADMIN.email,
        ADMIN_PASSWORD: ADMIN.password,
        // Unset: the gateway's own default (2). Set it to compare another bcrypt concurrency.
        ...(env.BENCH_HASH_CONCURRENCY ? { CC_PASSWORD_HASH_CONCURRENCY: env.BENCH_HASH_CONCURRENCY } : {}),
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

async function startBaseline(name, file, extraEnv = {}, onLine = () => {}) {
  const svc = track(
    startChild({
      name,
      args: [file],
      env: { ...BASE_ENV, ...extraEnv },
      isReady: (j) => j.listening === true,
      onLine,
    }),
  );
  const l = await svc.ready;
  return { svc, url: `http://127.0.0.1:${l.port}` };
}

async function getJson(url) {
  const res = await fetch(url);
  return res.json();
}

async function postJson(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json };
}

// ---------------------------------------------------------------- load

/** A load worker for one window: resolves once it is ready; go() starts the window. */
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
  return {
    go: () => worker.postMessage("go"),
    window: () => next("window"),
    done: () => next("done"),
    terminate: () => worker.terminate(),
  };
}

const closedLoop = (origin, path, extra = {}) => ({
  mode: "closed-loop",
  origin,
  path,
  payload: {},
  clients: CLIENTS,
  connections: CLIENTS,
  durationMs: THROUGHPUT_MS,
  ...extra,
});

const openLoopLogin = (origin, path) => ({
  mode: "open-loop",
  origin,
  path,
  payload: { email: ADMIN.email, password: ADMIN.password },
  intervalMs: 1000 / LOGIN_RATE,
  // One connection per request in flight: a request is never held back in the client.
  connections: LOGIN_RATE * (LOGIN_MS / 1000) + 8,
  durationMs: LOGIN_MS,
});

// ---------------------------------------------------------------- windows

async function idleWindow(gw) {
  const s0 = await scrapeGateway(gw.internalUrl);
  await sleep(LOGIN_MS);
  const s1 = await scrapeGateway(gw.internalUrl);
  return {
    p99Ms: s1.loopP99Ms,
    maxMs: s1.loopMaxMs,
    cpuUsPerSecond: (s1.cpuUs - s0.cpuUs) / ((s1.at - s0.at) / 1000),
  };
}

async function gatewayLoginWindow(gw) {
  const load = await loadWorker(openLoopLogin(gw.internalUrl, "/internal/auth/login"));
  const s0 = await scrapeGateway(gw.internalUrl);
  load.go();
  const w = await load.window();
  const s1 = await scrapeGateway(gw.internalUrl); // event-loop figures of exactly the window
  const done = await load.done(); // the bcrypt queue drains before the next window starts
  const s2 = await scrapeGateway(gw.internalUrl);
  return {
    p99Ms: s1.loopP99Ms,
    maxMs: s1.loopMaxMs,
    ok: w.ok,
    busy: w.busy,
    other: w.other + w.failed,
    pending: w.pendingAtEnd,
    clientP50Ms: percentile(w.latencies, 50),
    clientP99Ms: percentile(w.latencies, 99),
    cpuUsPerOp: (s2.cpuUs - s0.cpuUs) / done.okTotal,
    lastError: w.lastError,
  };
}

/**
 * The naive server cannot answer a scrape while compareSync blocks its loop,
 * and it would take minutes to work off the backlog of an open loop. It
 * pushes its figures after every login; the window's figures are the last
 * ones written before the window closed. A fresh process serves each run.
 */
async function naiveLoginWindow() {
  const snapshots = [];
  const base = await startBaseline("sync-bcrypt baseline", SYNC_BCRYPT_JS, {}, (j) => {
    if (typeof j.t === "number") snapshots.push(j);
  });
  const load = await loadWorker({ ...openLoopLogin(base.url, "/login"), waitForTail: false });
  const start = await getJson(`${base.url}/stats`); // resets the histogram
  load.go();
  const w = await load.window();
  const endedAt = Date.now();
  await load.terminate();
  await base.svc.stop("SIGKILL");
  const last = snapshots.filter((s) => s.t <= endedAt).at(-1);
  return {
    p99Ms: last?.p99Ms ?? Number.NaN,
    maxMs: last?.maxMs ?? Number.NaN,
    ok: w.ok,
    busy: w.busy,
    other: w.other + w.failed,
    pending: w.pendingAtEnd,
    clientP50Ms: percentile(w.latencies, 50),
    clientP99Ms: percentile(w.latencies, 99),
    cpuUsPerOp: last && last.n > 0 ? (last.cpuUs - start.cpuUs) / last.n : Number.NaN,
    lastError: w.lastError,
  };
}

/** A closed-loop window; cpu() reads the server's CPU µs. */
async function throughputWindow(cfg, cpu) {
  const load = await loadWorker(cfg);
  const c0 = await cpu();
  load.go();
  const w = await load.window();
  const done = await load.done();
  const c1 = await cpu();
  return {
    rps: w.ok / (w.elapsedMs / 1000),
    p50Ms: percentile(w.latencies, 50),
    p99Ms: percentile(w.latencies, 99),
    errors: w.busy + w.other + w.failed,
    cpuUsPerOp: (c1 - c0) / done.okTotal,
    lastError: w.lastError,
    tokens: done.tokens,
  };
}

// ---------------------------------------------------------------- report

const med = (runs, key) => median(runs.map((r) => r[key]));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${fmt(a / b, 2)}×` : "-");
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);

function report(r) {
  const out = [];
  const line = (s = "") => out.push(s);
  line();
  line(
    `auth-bench — median of ${RUNS} run(s); login windows ${LOGIN_MS / 1000} s at ${LOGIN_RATE}/s, ` +
      `throughput windows ${THROUGHPUT_MS / 1000} s with ${CLIENTS} clients; ${cpus().length} cores (±20 % run to run)`,
  );
  const noisy = r.busyBeforeRun.filter((b) => b >= QUIET_BELOW);
  if (noisy.length > 0)
    line(
      `WARNING: ${noisy.length} of ${RUNS} run(s) started with the machine ${noisy.map((b) => `${fmt(b * 100, 0)} %`).join(", ")} busy ` +
        "with other work: the figures below are disturbed; rerun on a quiet machine.",
    );
  line();
  line("server CPU per operation (µs, all threads of the server process)");
  line(`  ${padEnd("", 28)}${pad("gateway", 12)}${pad("baseline", 12)}${pad("ratio", 9)}  baseline`);
  const cpuRow = (name, g, b, bname) =>
    line(`  ${padEnd(name, 28)}${pad(fmt(g, 0), 12)}${pad(fmt(b, 0), 12)}${pad(ratio(g, b), 9)}  ${bname}`);
  if (r.login)
    cpuRow(
      "operator login (per 2xx)",
      med(r.login, "cpuUsPerOp"),
      med(r.naive, "cpuUsPerOp"),
      "sync bcrypt.compareSync",
    );
  cpuRow("anonymous sign-in", med(r.anon, "cpuUsPerOp"), med(r.bare, "cpuUsPerOp"), "bare INSERT + JWT");
  cpuRow("refresh", med(r.refresh, "cpuUsPerOp"), med(r.bare, "cpuUsPerOp"), "bare INSERT + JWT");
  if (r.idle.length > 0)
    line(`  gateway idle: ${fmt(med(r.idle, "cpuUsPerSecond"), 0)} µs of CPU per second`);
  const j = r.jwt;
  line(
    `  jsonwebtoken HS256 sign/verify: ${fmt(j.keyObject.signUs, 0)}/${fmt(j.keyObject.verifyUs, 0)} µs with a KeyObject ` +
      `(as the gateway and the bare baseline pass it), ${fmt(j.buffer.signUs, 0)}/${fmt(j.buffer.verifyUs, 0)} µs with a Buffer key`,
  );
  line();
  if (r.login) {
    line(
      `event-loop delay, ${LOGIN_RATE} logins/s for ${LOGIN_MS / 1000} s (10 ms resolution: an idle loop reads ~10 ms)`,
    );
    line(
      `  ${padEnd("", 28)}${pad("p99 ms", 9)}${pad("max ms", 9)}${pad("2xx", 6)}${pad("503", 6)}${pad("other", 7)}` +
        `${pad("pending", 9)}${pad("client p50/p99 ms", 20)}`,
    );
    const loopRow = (name, runs, counts) =>
      line(
        `  ${padEnd(name, 28)}${pad(fmt(med(runs, "p99Ms")), 9)}${pad(fmt(med(runs, "maxMs")), 9)}` +
          (counts
            ? `${pad(fmt(med(runs, "ok"), 0), 6)}${pad(fmt(med(runs, "busy"), 0), 6)}${pad(fmt(med(runs, "other"), 0), 7)}` +
              `${pad(fmt(med(runs, "pending"), 0), 9)}` +
              `${pad(`${fmt(med(runs, "clientP50Ms"), 0)} / ${fmt(med(runs, "clientP99Ms"), 0)}`, 20)}`
            : ""),
      );
    loopRow("gateway, idle", r.idle, false);
    loopRow("gateway, 20 logins/s", r.login, true);
    loopRow("naive sync-bcrypt server", r.naive, true);
    const p99 = med(r.login, "p99Ms");
    line(
      `  target: gateway event-loop p99 < ${TARGET_P99_MS} ms at ${LOGIN_RATE} logins/s → ` +
        `${p99 < TARGET_P99_MS ? "PASS" : "FAIL"} (${fmt(p99)} ms; the naive server's is ${ratio(med(r.naive, "p99Ms"), p99)} that)`,
    );
  } else {
    line("event-loop delay under logins: SKIPPED (POST /internal/auth/login is not in this build)");
  }
  line();
  line(`throughput (closed loop, ${CLIENTS} clients)`);
  line(
    `  ${padEnd("", 28)}${pad("req/s", 9)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("CPU µs/op", 11)}` +
      `${pad("errors", 8)}${pad("req/s ratio", 13)}`,
  );
  const tRow = (name, runs, vsBare) =>
    line(
      `  ${padEnd(name, 28)}${pad(fmt(med(runs, "rps"), 0), 9)}${pad(fmt(med(runs, "p50Ms")), 9)}` +
        `${pad(fmt(med(runs, "p99Ms")), 9)}${pad(fmt(med(runs, "cpuUsPerOp"), 0), 11)}` +
        `${pad(
          runs.reduce((n, x) => n + x.errors, 0),
          8,
        )}` +
        `${pad(vsBare ? ratio(med(runs, "rps"), med(r.bare, "rps")) : "", 13)}`,
    );
  tRow("gateway anonymous sign-in", r.anon, true);
  tRow("gateway refresh", r.refresh, true);
  tRow("bare INSERT + JWT baseline", r.bare, false);
  line("  errors are summed over all runs; the gateway does more per request than the baseline (README).");
  return out.join("\n");
}

// ---------------------------------------------------------------- main

async function main() {
  if (!existsSync(MAIN_JS)) throw new Error("dist/main.js is missing: run `npm run build` first");
  const started = Date.now();
  const jwtCost = jwtKeyCost();
  log(`auth-bench: database ${DB_NAME}, Valkey ${VALKEY_URL} prefix ${KEY_PREFIX}`);
  await createDatabase();
  const gw = await startGateway();
  log(`gateway up: public ${gw.publicUrl}, internal ${gw.internalUrl}`);
  const bare = await startBaseline("bare sign-in baseline", BARE_SIGNIN_JS, {
    DATABASE_URL,
    AUTH_JWT_SECRET: JWT_SECRET,
  });
  const bareCpu = async () => (await getJson(`${bare.url}/stats`)).cpuUs;
  const gwCpu = async () => (await scrapeGateway(gw.internalUrl)).cpuUs;

  const probe = await postJson(`${gw.internalUrl}/internal/auth/login`, ADMIN);
  const hasLogin = probe.status === 200;
  if (!hasLogin)
    log(
      `POST /internal/auth/login answered ${probe.status} (${probe.json?.error?.code ?? "?"}): login windows skipped`,
    );

  // One refresh chain per client, each its own anonymous customer.
  const signIns = await Promise.all(
    Array.from({ length: CLIENTS }, () => postJson(`${gw.publicUrl}/api/shared/auth/anonymous`, {})),
  );
  let tokens = signIns.map((s) => s.json?.refreshToken);
  if (tokens.some((t) => typeof t !== "string")) throw new Error("anonymous sign-in failed during set-up");

  const anonCfg = closedLoop(gw.publicUrl, "/api/shared/auth/anonymous");
  const refreshCfg = () =>
    closedLoop(gw.publicUrl, "/api/shared/auth/refresh", {
      tokens,
      signInPath: "/api/shared/auth/anonymous",
    });
  const bareCfg = closedLoop(bare.url, "/signin");

  // Warm-up (JIT, pool connections, caches); not recorded.
  await throughputWindow({ ...anonCfg, durationMs: WARMUP_MS }, gwCpu);
  tokens = (await throughputWindow({ ...refreshCfg(), durationMs: WARMUP_MS }, gwCpu)).tokens;
  await throughputWindow({ ...bareCfg, durationMs: WARMUP_MS }, bareCpu);

  const r = {
    jwt: jwtCost,
    busyBeforeRun: [],
    idle: [],
    login: hasLogin ? [] : null,
    naive: [],
    anon: [],
    refresh: [],
    bare: [],
  };
  const warn = (name, x) => {
    if ((x.errors ?? x.other) > 0) log(`    ${name}: last error ${x.lastError}`);
  };
  for (let run = 1; run <= RUNS; run++) {
    const busy = await waitForQuiet(QUIET_BELOW, QUIET_WAIT_MS);
    r.busyBeforeRun.push(busy);
    log(
      `run ${run}/${RUNS} (machine ${fmt(busy * 100, 0)} % busy before it${busy >= QUIET_BELOW ? ": NOT QUIET" : ""})`,
    );
    // Windows interleave, so drift (page cache, autovacuum, thermal) spreads over every figure alike.
    if (hasLogin) {
      const idle = await idleWindow(gw);
      r.idle.push(idle);
      log(`  gateway idle       loop p99 ${fmt(idle.p99Ms)} ms, max ${fmt(idle.maxMs)} ms`);
      const login = await gatewayLoginWindow(gw);
      r.login.push(login);
      log(
        `  gateway logins     loop p99 ${fmt(login.p99Ms)} ms, max ${fmt(login.maxMs)} ms; ` +
          `2xx ${login.ok}, 503 ${login.busy}, other ${login.other}; ${fmt(login.cpuUsPerOp, 0)} µs CPU/login`,
      );
      warn("gateway logins", login);
      const naive = await naiveLoginWindow();
      r.naive.push(naive);
      log(
        `  naive logins       loop p99 ${fmt(naive.p99Ms)} ms, max ${fmt(naive.maxMs)} ms; ` +
          `2xx ${naive.ok}, pending ${naive.pending}; ${fmt(naive.cpuUsPerOp, 0)} µs CPU/login`,
      );
    }
    const anon = await throughputWindow(anonCfg, gwCpu);
    r.anon.push(anon);
    log(
      `  anonymous sign-in  ${fmt(anon.rps, 0)} req/s, p99 ${fmt(anon.p99Ms)} ms, ${fmt(anon.cpuUsPerOp, 0)} µs CPU/op`,
    );
    warn("anonymous", anon);
    const refresh = await throughputWindow(refreshCfg(), gwCpu);
    tokens = refresh.tokens;
    r.refresh.push(refresh);
    log(
      `  refresh            ${fmt(refresh.rps, 0)} req/s, p99 ${fmt(refresh.p99Ms)} ms, ${fmt(refresh.cpuUsPerOp, 0)} µs CPU/op`,
    );
    warn("refresh", refresh);
    const b = await throughputWindow(bareCfg, bareCpu);
    r.bare.push(b);
    log(
      `  bare INSERT + JWT  ${fmt(b.rps, 0)} req/s, p99 ${fmt(b.p99Ms)} ms, ${fmt(b.cpuUsPerOp, 0)} µs CPU/op`,
    );
    warn("bare", b);
  }

  const table = report(r);
  log(table);
  log(`\n(total ${fmt((Date.now() - started) / 1000, 0)} s)`);
  for (const k of ["anon", "refresh", "bare"]) for (const x of r[k]) delete x.tokens;
  writeResults("auth-bench", {
    runs: RUNS,
    loginMs: LOGIN_MS,
    throughputMs: THROUGHPUT_MS,
    clients: CLIENTS,
    results: r,
    table,
  });
  return hasLogin;
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
  const hadLogin = await main();
  // A build without the login route cannot give the issue's main figure: say so in the exit code.
  if (!hadLogin) exitCode = 2;
} catch (err) {
  log(`auth-bench failed: ${err.stack ?? err}`);
  exitCode = 1;
} finally {
  if (!cleaning) {
    cleaning = true;
    await cleanup();
  }
}
process.exit(exitCode);
