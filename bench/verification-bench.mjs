/**
 * Verification benchmark, issue 14 (see bench/README.md). Gateway processes
 * (dist/main.js) speak to a local iDenfy (lib/fake-idenfy.mjs, in this
 * process: POST /api/v2/token and /api/v2/status with Basic auth, every
 * answer `BENCH_VERIF_PROVIDER_MS` late) and share a database and a Valkey
 * key prefix of their own:
 *
 *   1. status reads on the common path: mitras whose verification is in
 *      progress and was polled recently (the bench sets polled_at to now
 *      before each window), so a read is one Postgres read and no provider
 *      call; GET /api/mitra/verification at an open-loop 500 reads/s for
 *      10 s against one gateway, from a worker thread (undici, keep-alive),
 *      interleaved with the baseline, an equally authenticated one-row read
 *      on the same gateway (GET /api/mitra/auth/me) at the same rate; server
 *      CPU µs per read, p50/p99, and the provider calls made during each
 *      window (must be 0). Then a window with every verification's poll due
 *      at once, reads spread over all gateway processes: exactly one status
 *      call per verification, and what the polls cost the readers;
 *   2. provider calls per expiry: a verification made expired by a signed
 *      EXPIRED webhook, then 1,000 status reads, 50 at a time, spread over
 *      all gateway processes; the fake counts the token calls (target: one
 *      per expiry), and the readers' answers are counted (pending, the new
 *      token, anything else).
 *
 *   npm run build && node bench/verification-bench.mjs
 *
 * BENCH_RUNS (3), BENCH_VERIF_PARTS (reads,expiry), BENCH_VERIF_RATE (500), BENCH_VERIF_SECONDS (10),
 * BENCH_VERIF_MITRAS (20), BENCH_VERIF_GATEWAYS (3), BENCH_VERIF_EXPIRIES (5),
 * BENCH_VERIF_BURST_READS (1000), BENCH_VERIF_BURST_CONCURRENCY (50),
 * BENCH_VERIF_PROVIDER_MS (150), BENCH_VERIF_DEADLINE_SECONDS (420), BENCH_VERIF_DIST (dist),
 * BENCH_PG_ADMIN_URL, BENCH_VALKEY_URL, BENCH_QUIET_WAIT_SECONDS override defaults.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { cpus } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import Redis from "ioredis";
import pg from "pg";
import { Pool as HttpPool } from "undici";
import { runWithDeadline } from "./lib/bench-lifecycle.mjs";
import { BASE_ENV, startChild } from "./lib/child-service.mjs";
import { FakeIdenfy, signedWebhook } from "./lib/fake-idenfy.mjs";
import { processCpuUs } from "./lib/proc-stat.mjs";
import { busyShare, cpuTimes, waitForQuietExcept } from "./lib/quiet-except.mjs";
import { writeResults } from "./lib/results-file.mjs";
import { createDatabase, deleteValkeyKeys, dropDatabase, scratchDatabaseUrl } from "./lib/scratch-stores.mjs";
import { signedInMitras } from "./lib/signed-in-mitras.mjs";
import { fmt, median, percentile } from "./lib/stats.mjs";

const env = process.env;
const int = (v, d) => (v && /^\d+$/.test(v) ? Number(v) : d);
const RUNS = Math.max(1, int(env.BENCH_RUNS, 3));
const PARTS = (env.BENCH_VERIF_PARTS ?? "reads,expiry").split(",").map((x) => x.trim());
const RATE = Math.max(1, int(env.BENCH_VERIF_RATE, 500));
const WINDOW_MS = int(env.BENCH_VERIF_SECONDS, 10) * 1000;
const WARMUP_MS = 2000;
const MITRAS = Math.max(1, int(env.BENCH_VERIF_MITRAS, 20));
const GATEWAYS = Math.max(1, int(env.BENCH_VERIF_GATEWAYS, 3));
const EXPIRIES = Math.max(1, int(env.BENCH_VERIF_EXPIRIES, 5));
const BURST_READS = Math.max(1, int(env.BENCH_VERIF_BURST_READS, 1000));
const BURST_CONCURRENCY = Math.max(1, int(env.BENCH_VERIF_BURST_CONCURRENCY, 50));
const PROVIDER_MS = int(env.BENCH_VERIF_PROVIDER_MS, 150);
const DEADLINE_MS = int(env.BENCH_VERIF_DEADLINE_SECONDS, 420) * 1000;
/** The gateway's poll interval (src/verification/verifications.ts): one provider poll per verification per 30 s at most. */
const POLL_INTERVAL_MS = 30_000;
/** A read slower than this is counted, with when it was sent. */
const SLOW_MS = 50;
/**
 * Before each measured window, this long of baseline reads on the same gateways (not recorded): the
 * gateway's Postgres pool closes connections idle for 30 s, and a window must not open them.
 */
const PREWARM_MS = 1000;
/** Keep-alive connections per reader worker: enough that a read waiting on a provider poll never holds up another mitra's read in the client's queue. */
const CONNECTIONS = 64;
const TICK_US = 10_000; // USER_HZ is 100 on Linux: /proc/stat counts in 1/100 s
/** How long the gateway's own CPU is read with no load, to show its background. */
const IDLE_MS = 3000;
const QUIET_BELOW = 0.15;
const QUIET_WAIT_MS = int(env.BENCH_QUIET_WAIT_SECONDS, 20) * 1000;
const PG_ADMIN_URL = env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const VALKEY_URL = env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";

const path = (rel) => fileURLToPath(new URL(rel, import.meta.url));
const DIST = env.BENCH_VERIF_DIST ? resolve(env.BENCH_VERIF_DIST) : path("../dist");
const MAIN_JS = `${DIST}/main.js`;
const READER_JS = path("./lib/open-loop-reads.mjs");
const VERIFICATION_PATH = "/api/mitra/verification";
const BASELINE_PATH = "/api/mitra/auth/me";
const DB_NAME = `halo_bench_verif_${process.pid}`;
const KEY_PREFIX = `halo_bench_verif_${process.pid}:`;
const JWT_SECRET = randomBytes(36).toString("base64url");
const WEBHOOK_SECRET = randomBytes(24).toString("base64url");
const API_KEY = `bench-key-${randomBytes(6).toString("hex")}`;
const API_SECRET = randomBytes(18).toString("base64url");
const DATABASE_URL = scratchDatabaseUrl(PG_ADMIN_URL, DB_NAME);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);

// ---------------------------------------------------------------- resources

const owned = { children: new Set(), workers: new Set(), closers: [], dbCreated: false };

function track(svc) {
  owned.children.add(svc);
  svc.child.once("exit", () => owned.children.delete(svc));
  return svc;
}

async function cleanup() {
  for (const w of owned.workers) await w.terminate().catch(() => {});
  for (const svc of [...owned.children]) await svc.stop("SIGTERM", 5000).catch(() => {});
  for (const close of owned.closers.splice(0).reverse()) await close().catch(() => {});
  if (owned.dbCreated)
    await dropDatabase(PG_ADMIN_URL, DB_NAME).catch((err) =>
      log(`could not drop ${DB_NAME}: ${err.message}`),
    );
  owned.dbCreated = false;
  await deleteValkeyKeys(VALKEY_URL, KEY_PREFIX).catch((err) =>
    log(`could not delete ${KEY_PREFIX}* keys: ${err.message}`),
  );
}

/** Warnings and errors the gateways logged (pino levels 40 and up), counted, the first few kept. */
const gatewayLog = { warn: 0, error: 0, first: [] };

/**
 * Starts `n` gateway processes (`node MAIN_JS`) on one database and key prefix, as lib/gateway-procs.mjs
 * does (NODE_ENV=test, ports 0 on 127.0.0.1), and keeps their warnings and errors (gatewayLog).
 */
async function startGateways(n, extraEnv) {
  const started = Array.from({ length: n }, (_, k) =>
    track(
      startChild({
        name: `gateway ${k}`,
        args: [MAIN_JS],
        env: {
          ...BASE_ENV,
          NODE_ENV: "test",
          LOG_LEVEL: "info", // the "listening" line (with both ports) is an info line
          PUBLIC_HOST: "127.0.0.1",
          PUBLIC_PORT: "0",
          INTERNAL_HOST: "127.0.0.1",
          INTERNAL_PORT: "0",
          ...extraEnv,
        },
        isReady: (j) => j.msg === "listening",
        onLine: (j) => {
          if (!(j.level >= 40)) return;
          if (j.level >= 50) gatewayLog.error++;
          else gatewayLog.warn++;
          if (gatewayLog.first.length < 5)
            gatewayLog.first.push(`gateway ${k}: ${JSON.stringify(j).slice(0, 400)}`);
        },
        timeoutMs: 120_000,
      }),
    ),
  );
  const lines = await Promise.all(started.map((svc) => svc.ready));
  return started.map((svc, k) => ({
    k,
    svc,
    pid: svc.child.pid,
    publicUrl: `http://127.0.0.1:${lines[k].publicPort}`,
    cpuUs: () => processCpuUs(svc.child.pid),
  }));
}

async function quiet(busyList, label, pids) {
  const busy = await waitForQuietExcept(pids, QUIET_BELOW, QUIET_WAIT_MS);
  busyList.push(busy);
  log(
    `${label} (machine ${fmt(busy * 100, 0)} % busy besides the bench's own processes before it` +
      `${busy >= QUIET_BELOW ? ": NOT QUIET" : ""})`,
  );
}

async function httpJson(url, { method = "GET", bearer, body, headers = {} } = {}) {
  const res = await fetch(url, {
    method,
    headers: {
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

async function startVerification(gw, bearer) {
  const r = await httpJson(`${gw.publicUrl}${VERIFICATION_PATH}`, { method: "POST", bearer, body: {} });
  if (r.status !== 200 || r.json?.status !== "in_progress" || !r.json.authToken)
    throw new Error(`POST ${VERIFICATION_PATH} answered ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

// ---------------------------------------------------------------- 1. status reads on the common path

/** Starts one open-loop reader worker; resolves once it is ready. */
async function readerWorker(workerData) {
  const worker = new Worker(READER_JS, { workerData });
  owned.workers.add(worker);
  worker.once("exit", () => owned.workers.delete(worker));
  const message = (type) =>
    new Promise((resolve, reject) => {
      const on = (m) => {
        if (m.type !== type) return;
        worker.off("message", on);
        resolve(m);
      };
      worker.on("message", on);
      worker.once("error", reject);
    });
  await message("ready");
  return {
    run: () => {
      const result = message("result");
      worker.postMessage("go");
      return result.finally(() => worker.terminate().catch(() => {}));
    },
  };
}

/**
 * One open-loop window: RATE reads/s of `pathname` for `durationMs`, split evenly over `targets` (one
 * worker thread per gateway), bearers in turn. CPU is summed over the targets.
 */
async function readWindow(targets, pathname, bearers, durationMs, fake, expect) {
  const workers = await Promise.all(
    targets.map((gw) =>
      readerWorker({
        origin: gw.publicUrl,
        path: pathname,
        bearers,
        ratePerSec: RATE / targets.length,
        durationMs,
        connections: CONNECTIONS,
        expect,
      }),
    ),
  );
  const cpu = () => targets.reduce((n, gw) => n + gw.cpuUs(), 0);
  const f0 = fake.counters();
  const c0 = cpu();
  const m0 = cpuTimes();
  const rs = await Promise.all(workers.map((w) => w.run()));
  const m1 = cpuTimes();
  const c1 = cpu();
  const f1 = fake.counters();
  const sum = (k) => rs.reduce((n, x) => n + x[k], 0);
  const latencies = rs.flatMap((x) => x.latencies);
  const sentAt = rs.flatMap((x) => x.sentAt);
  // Reads slower than SLOW_MS, and when they were sent: a cluster at one moment (a poll, a stall) or spread out.
  const slow = sentAt.filter((_, k) => latencies[k] > SLOW_MS);
  const ok = sum("ok");
  return {
    sent: sum("sent"),
    ok,
    errors: sum("non2xx") + sum("failed"),
    unexpected: sum("unexpected"),
    firstUnexpected: rs.map((x) => x.firstUnexpected).find(Boolean) ?? "",
    lastError: rs.map((x) => x.lastError).find(Boolean) ?? "",
    stillPending: sum("stillPending"),
    rps: ok / (Math.max(...rs.map((x) => x.elapsedMs)) / 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    p999Ms: percentile(latencies, 99.9),
    maxMs: latencies.reduce((m, x) => Math.max(m, x), 0),
    lagP99Ms: Math.max(...rs.map((x) => x.lagP99Ms)),
    cpuUsPerRead: (c1 - c0) / ok,
    machineBusy: busyShare(m0, m1),
    // Share of the whole machine (all cores), as machineBusy is: /proc/stat's total counts every core.
    gatewayShare: (c1 - c0) / ((m1.total - m0.total) * TICK_US),
    slow: slow.length,
    slowFromMs: slow.length ? Math.min(...slow) : Number.NaN,
    slowToMs: slow.length ? Math.max(...slow) : Number.NaN,
    tokenCalls: f1.tokenCalls - f0.tokenCalls,
    statusCalls: f1.statusCalls - f0.statusCalls,
  };
}

function windowLine(name, x) {
  return (
    `  ${name.padEnd(30)} ${fmt(x.rps, 0)} reads/s, p50 ${fmt(x.p50Ms, 2)} ms, p99 ${fmt(x.p99Ms, 2)} ms, ` +
    `max ${fmt(x.maxMs, 1)} ms, ${fmt(x.cpuUsPerRead, 0)} µs CPU/read; machine ${fmt(x.machineBusy * 100, 0)} % busy ` +
    `(gateway ${fmt(x.gatewayShare * 100, 0)} %); ${x.slow} reads > ${SLOW_MS} ms` +
    `${x.slow ? ` (sent ${fmt(x.slowFromMs / 1000, 2)}–${fmt(x.slowToMs / 1000, 2)} s)` : ""}; provider calls ${x.statusCalls} status, ` +
    `${x.tokenCalls} token${x.errors ? `; ${x.errors} errors (${x.lastError})` : ""}` +
    `${x.unexpected ? `; ${x.unexpected} not in_progress (${x.firstUnexpected})` : ""}`
  );
}

/**
 * The readers' verifications as polled `agoMs` ago: 0 puts every read of the next window on the common
 * path (no poll due within 30 s); over 30 s makes every verification's poll due at once.
 */
async function setPolledAgo(pool, ids, agoMs) {
  await pool.query(
    "UPDATE verifications SET polled_at = now() - $2 * interval '1 millisecond' WHERE id = ANY($1::uuid[])",
    [ids, agoMs],
  );
}

async function readsSection(pool, gws, httpPools, fake, r, ownPids) {
  const gw = gws[0];
  const bearers = await signedInMitras(pool, MITRAS, JWT_SECRET, { online: false, phonePrefix: "7" });
  const t0 = fake.tokenCalls;
  const ids = [];
  for (const b of bearers) ids.push((await startVerification(gw, b)).verificationId);
  if (fake.tokenCalls - t0 !== MITRAS)
    throw new Error(`${MITRAS} verifications started, but the provider minted ${fake.tokenCalls - t0}`);
  for (const p of [VERIFICATION_PATH, BASELINE_PATH]) {
    const x = await httpJson(`${gw.publicUrl}${p}`, { bearer: bearers[0] });
    if (x.status !== 200) throw new Error(`GET ${p} answered ${x.status} ${x.text.slice(0, 300)}`);
  }
  log(`${MITRAS} mitras signed in, each with a verification in progress (${MITRAS} token calls)`);
  await openConnections(httpPools, bearers[0]);

  // Warm-up (JIT, connections, the Postgres pool); not recorded.
  await setPolledAgo(pool, ids, 0);
  await readWindow([gw], VERIFICATION_PATH, bearers, WARMUP_MS, fake);
  await readWindow([gw], BASELINE_PATH, bearers, WARMUP_MS, fake);
  const i0 = gw.cpuUs();
  await sleep(IDLE_MS);
  r.idleCpuUsPerSecond = (gw.cpuUs() - i0) / (IDLE_MS / 1000);

  const inProgress = '"status":"in_progress"';
  for (let run = 1; run <= RUNS; run++) {
    await quiet(r.busyBeforeRun, `reads run ${run}/${RUNS}`, ownPids);
    // Rotate the order, so a drift in the machine's load does not favour one window.
    const kinds = ["verification", "baseline", "pollDue"];
    const order = kinds.map((_, k) => kinds[(k + run - 1) % kinds.length]);
    for (const kind of order) {
      let x;
      await readWindow([gw], BASELINE_PATH, bearers, PREWARM_MS, fake);
      if (kind === "verification") {
        await setPolledAgo(pool, ids, 0);
        x = await readWindow([gw], VERIFICATION_PATH, bearers, WINDOW_MS, fake, inProgress);
      } else if (kind === "pollDue") {
        // Every verification's poll due at once: the same load, one poll each, and what the polls cost the readers.
        await setPolledAgo(pool, ids, POLL_INTERVAL_MS + 1000);
        x = await readWindow([gw], VERIFICATION_PATH, bearers, WINDOW_MS, fake, inProgress);
      } else {
        x = await readWindow([gw], BASELINE_PATH, bearers, WINDOW_MS, fake);
      }
      r.reads[kind].push(x);
      const name = {
        verification: `GET ${VERIFICATION_PATH}`,
        baseline: `GET ${BASELINE_PATH}`,
        pollDue: "polls due at the start",
      }[kind];
      log(windowLine(name, x));
    }
    // And across processes: every poll due, a burst of reads over every gateway process at once.
    await setPolledAgo(pool, ids, POLL_INTERVAL_MS + 1000);
    const f0 = fake.counters();
    const q = await burst(httpPools, bearers, null);
    await sleep(200);
    const f1 = fake.counters();
    const pb = {
      statusCalls: f1.statusCalls - f0.statusCalls,
      tokenCalls: f1.tokenCalls - f0.tokenCalls,
      inProgress: q.newToken + q.oldToken,
      other: Object.values(q.other).reduce((n, c) => n + c, 0) + q.pending,
      httpErrors: q.httpErrors,
      lastError: q.lastError,
      durationMs: q.durationMs,
    };
    r.pollBursts.push(pb);
    log(
      `  polls due, ${fmt(BURST_READS, 0)} reads ${BURST_CONCURRENCY} at a time over ${gws.length} gateway(s): ` +
        `${pb.statusCalls} status calls, ${pb.tokenCalls} token; ${pb.inProgress} in_progress, ${pb.other} other, ` +
        `${pb.httpErrors} errors${pb.httpErrors ? ` (${pb.lastError})` : ""}; ${fmt(pb.durationMs, 0)} ms`,
    );
  }
}

// ---------------------------------------------------------------- 2. provider calls per expiry

/** Keep-alive pools for the bursts, one per gateway process, enough connections for BURST_CONCURRENCY. */
function burstPools(gws) {
  const perGateway = Math.ceil(BURST_CONCURRENCY / gws.length) + 1;
  const pools = gws.map(
    (g) => new HttpPool(g.publicUrl, { connections: perGateway, pipelining: 1, keepAliveTimeout: 30_000 }),
  );
  owned.closers.push(() => Promise.all(pools.map((p) => p.close())));
  return pools;
}

/** Opens every burst connection before a burst (those reads are not counted). */
async function openConnections(httpPools, bearer) {
  const perGateway = Math.ceil(BURST_CONCURRENCY / httpPools.length) + 1;
  for (const p of httpPools)
    await Promise.all(
      Array.from({ length: perGateway }, () =>
        p
          .request({ path: BASELINE_PATH, method: "GET", headers: { authorization: `Bearer ${bearer}` } })
          .then((x) => x.body.dump()),
      ),
    );
}

/**
 * BURST_READS status reads, BURST_CONCURRENCY at a time, read i on gateway i mod GATEWAYS with
 * bearers[i mod n]; answers counted (an in_progress answer with a token other than `oldToken` is "new").
 */
async function burst(httpPools, bearers, oldToken) {
  const x = {
    newToken: 0,
    pending: 0,
    pendingWithToken: 0,
    oldToken: 0,
    pendingAfterNew: 0,
    other: {},
    httpErrors: 0,
    lastError: "",
    tokens: new Set(),
    perGateway: httpPools.map(() => ({ newToken: 0, pending: 0 })),
  };
  let next = 0;
  let newSeen = false;
  const started = performance.now();
  let firstNewMs = Number.NaN;
  const one = async () => {
    while (next < BURST_READS) {
      const i = next++;
      const g = i % httpPools.length;
      try {
        const { statusCode, body } = await httpPools[g].request({
          path: VERIFICATION_PATH,
          method: "GET",
          headers: { authorization: `Bearer ${bearers[i % bearers.length]}` },
        });
        const text = await body.text();
        if (statusCode !== 200) {
          x.httpErrors++;
          x.lastError = `HTTP ${statusCode} ${text.slice(0, 200)}`;
          continue;
        }
        const v = JSON.parse(text);
        if (v.status === "pending") {
          x.pending++;
          x.perGateway[g].pending++;
          if (v.authToken) x.pendingWithToken++;
          if (newSeen) x.pendingAfterNew++;
        } else if (v.status === "in_progress" && v.authToken === oldToken) {
          x.oldToken++;
        } else if (v.status === "in_progress") {
          x.newToken++;
          x.perGateway[g].newToken++;
          x.tokens.add(v.authToken);
          if (!newSeen) firstNewMs = performance.now() - started;
          newSeen = true;
        } else {
          x.other[v.status] = (x.other[v.status] ?? 0) + 1;
        }
      } catch (err) {
        x.httpErrors++;
        x.lastError = String(err?.message ?? err);
      }
    }
  };
  await Promise.all(Array.from({ length: BURST_CONCURRENCY }, one));
  x.durationMs = performance.now() - started;
  x.firstNewMs = firstNewMs;
  return x;
}

async function expirySection(pool, gws, httpPools, fake, valkey, r, ownPids) {
  const bearers = await signedInMitras(pool, EXPIRIES, JWT_SECRET, { online: false, phonePrefix: "8" });
  await openConnections(httpPools, bearers[0]);

  for (let e = 0; e < EXPIRIES; e++) {
    const gw = gws[e % gws.length];
    const started = await startVerification(gw, bearers[e]);
    const before = (
      await pool.query("SELECT scan_ref, client_id, recreate_count FROM verifications WHERE id = $1", [
        started.verificationId,
      ])
    ).rows[0];
    const hook = signedWebhook(WEBHOOK_SECRET, before.scan_ref, "EXPIRED", before.client_id);
    const w = await httpJson(`${gw.publicUrl}/webhooks/idenfy`, {
      method: "POST",
      body: hook.body,
      headers: hook.headers,
    });
    if (w.status !== 200)
      throw new Error(`POST /webhooks/idenfy answered ${w.status} ${w.text.slice(0, 300)}`);
    const expired = (
      await pool.query("SELECT status FROM verifications WHERE id = $1", [started.verificationId])
    ).rows[0].status;
    if (expired !== "expired") throw new Error(`after the EXPIRED webhook the verification is ${expired}`);

    await quiet(r.busyBeforeRun, `expiry ${e + 1}/${EXPIRIES}`, ownPids);
    const f0 = fake.counters();
    const b = await burst(httpPools, [bearers[e]], started.authToken);
    // Every read has answered, so every mint it started has too; a short wait catches a straggler anyway.
    await sleep(200);
    const f1 = fake.counters();
    const after = (
      await pool.query(
        "SELECT status, auth_token, scan_ref, recreate_count FROM verifications WHERE id = $1",
        [started.verificationId],
      )
    ).rows[0];
    const lockHeld = await valkey.exists(`${KEY_PREFIX}verification:recreate-lock:${started.verificationId}`);
    const tokens = [...b.tokens];
    const x = {
      tokenCalls: f1.tokenCalls - f0.tokenCalls,
      statusCalls: f1.statusCalls - f0.statusCalls,
      reads: BURST_READS,
      newToken: b.newToken,
      pending: b.pending,
      pendingAfterNew: b.pendingAfterNew,
      pendingWithToken: b.pendingWithToken,
      oldToken: b.oldToken,
      other: b.other,
      httpErrors: b.httpErrors,
      lastError: b.lastError,
      distinctTokens: tokens.length,
      tokenIsStored: tokens.length === 1 && tokens[0] === after.auth_token,
      statusAfter: after.status,
      recreates: after.recreate_count - before.recreate_count,
      lockHeldAfter: lockHeld === 1,
      durationMs: b.durationMs,
      firstNewMs: b.firstNewMs,
      perGateway: b.perGateway,
    };
    r.expiries.push(x);
    const others = Object.entries(x.other).map(([k, n]) => `${n} ${k}`);
    log(
      `  ${x.tokenCalls} token call(s), ${x.statusCalls} status; ${x.newToken} new token, ${x.pending} pending ` +
        `(${x.pendingAfterNew} after the first new token), ${x.oldToken} old token` +
        `${others.length ? `, ${others.join(", ")}` : ""}${x.httpErrors ? `, ${x.httpErrors} errors (${x.lastError})` : ""}; ` +
        `${x.distinctTokens} distinct token(s) answered, ${x.tokenIsStored ? "the stored one" : "NOT the stored one"}; ` +
        `row ${x.statusAfter}, re-mints +${x.recreates}; ${fmt(x.durationMs, 0)} ms, first new token at ${fmt(x.firstNewMs, 0)} ms`,
    );
  }
}

// ---------------------------------------------------------------- report

const med = (runs, key) => median(runs.map((x) => x[key]));
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${fmt(a / b, 2)}×` : "-");
const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);

function verdicts(r) {
  const allowedPerWindow = MITRAS * (Math.floor(WINDOW_MS / POLL_INTERVAL_MS) + 1);
  const v = r.reads.verification;
  const p = r.reads.pollDue;
  // Common path: no provider call at all. Polls due: one status call per verification (a 10 s window < 30 s).
  const pollsOk =
    v.every((x) => x.statusCalls === 0 && x.tokenCalls === 0) &&
    p.every((x) => x.statusCalls === Math.min(MITRAS, allowedPerWindow) && x.tokenCalls === 0) &&
    r.pollBursts.every((x) => x.statusCalls === MITRAS && x.tokenCalls === 0);
  const readsOk =
    [...v, ...p, ...r.reads.baseline].every((x) => x.errors === 0 && x.unexpected === 0) &&
    r.pollBursts.every((x) => x.httpErrors === 0 && x.other === 0);
  const expiriesOk = r.expiries.every(
    (x) =>
      x.tokenCalls === 1 &&
      x.distinctTokens === 1 &&
      x.tokenIsStored &&
      x.oldToken === 0 &&
      x.pendingWithToken === 0 &&
      Object.keys(x.other).length === 0 &&
      x.httpErrors === 0 &&
      !x.lockHeldAfter,
  );
  return { allowedPerWindow, pollsOk, readsOk, expiriesOk };
}

function report(r) {
  const out = [];
  const line = (s = "") => out.push(s);
  const v = r.reads.verification;
  const b = r.reads.baseline;
  const vd = verdicts(r);
  line();
  line(
    `verification-bench — median of ${RUNS} run(s); ${GATEWAYS} gateway process(es), local iDenfy answering after ` +
      `${PROVIDER_MS} ms; ${cpus().length} cores (±20 % run to run)`,
  );
  const noisy = r.busyBeforeRun.filter((x) => x >= QUIET_BELOW);
  if (noisy.length > 0)
    line(
      `WARNING: ${noisy.length} of ${r.busyBeforeRun.length} measured runs started with the machine ` +
        `${noisy.map((x) => `${fmt(x * 100, 0)} %`).join(", ")} busy with other work: the figures below are ` +
        "disturbed; rerun on a quiet machine.",
    );
  if (v.length > 0) {
    line();
    line(
      `1. status reads, common path: ${MITRAS} mitras with a verification in progress, polled just before the window; ` +
        `open loop ${RATE} reads/s for ${WINDOW_MS / 1000} s from a worker thread (undici keep-alive, ${CONNECTIONS} connections), one gateway`,
    );
    line(
      `  ${padEnd("", 40)}${pad("CPU µs/read", 12)}${pad("p50 ms", 9)}${pad("p99 ms", 9)}${pad("p99.9 ms", 10)}` +
        `${pad("reads/s", 9)}${pad("errors", 8)}`,
    );
    const row = (name, runs) =>
      line(
        `  ${padEnd(name, 40)}${pad(fmt(med(runs, "cpuUsPerRead"), 0), 12)}${pad(fmt(med(runs, "p50Ms"), 2), 9)}` +
          `${pad(fmt(med(runs, "p99Ms"), 2), 9)}${pad(fmt(med(runs, "p999Ms"), 2), 10)}${pad(fmt(med(runs, "rps"), 0), 9)}` +
          `${pad(
            runs.reduce((n, x) => n + x.errors + x.unexpected, 0),
            8,
          )}`,
      );
    row(`GET ${VERIFICATION_PATH}`, v);
    row(`GET ${BASELINE_PATH} (baseline)`, b);
    row(`GET ${VERIFICATION_PATH}, polls due`, r.reads.pollDue);
    line(
      `  verification/baseline: CPU per read ${ratio(med(v, "cpuUsPerRead"), med(b, "cpuUsPerRead"))} ` +
        `(runs: ${v.map((x, k) => ratio(x.cpuUsPerRead, b[k].cpuUsPerRead)).join(", ")}), ` +
        `p50 ${ratio(med(v, "p50Ms"), med(b, "p50Ms"))} (runs: ${v.map((x, k) => ratio(x.p50Ms, b[k].p50Ms)).join(", ")}), ` +
        `p99 ${ratio(med(v, "p99Ms"), med(b, "p99Ms"))} (runs: ${v.map((x, k) => ratio(x.p99Ms, b[k].p99Ms)).join(", ")})`,
    );
    line(
      "  both: JWT verify + revocation check + one Postgres row read (latest verification by mitra / mitra by id); " +
        `CPU is the gateway process's (/proc/<pid>/stat, 10 ms ticks), its idle background ${fmt(r.idleCpuUsPerSecond / RATE, 0)} µs per read at this rate ` +
        `(${fmt(r.idleCpuUsPerSecond / 1000, 1)} ms/s) included; client scheduling lag p99 ` +
        `${fmt(Math.max(...[...v, ...b].map((x) => x.lagP99Ms)), 2)} ms (not in the latencies)`,
    );
    const p = r.reads.pollDue;
    line(
      `  polls due: every verification's last poll set 31 s back, then the same window: p50 ${ratio(med(p, "p50Ms"), med(v, "p50Ms"))}, ` +
        `p99 ${ratio(med(p, "p99Ms"), med(v, "p99Ms"))} (runs: ${p.map((x, k) => ratio(x.p99Ms, v[k].p99Ms)).join(", ")}) the common path's; reads > ${SLOW_MS} ms: ` +
        `${p.map((x) => `${x.slow} (sent ${fmt(x.slowFromMs / 1000, 2)}–${fmt(x.slowToMs / 1000, 2)} s)`).join(", ")}; ` +
        `in the common-path windows: ${v.map((x) => x.slow).join(", ")}; machine busy during the windows (all of it, ` +
        `this bench included): common path ${v.map((x) => `${fmt(x.machineBusy * 100, 0)} %`).join(", ")}, ` +
        `baseline ${b.map((x) => `${fmt(x.machineBusy * 100, 0)} %`).join(", ")}, polls due ${p.map((x) => `${fmt(x.machineBusy * 100, 0)} %`).join(", ")}`,
    );
    const pb = r.pollBursts;
    line(
      `  provider calls: common-path windows status ${v.map((x) => x.statusCalls).join(", ")}, token ${v.map((x) => x.tokenCalls).join(", ")} ` +
        `(must be 0); polls-due windows status ${p.map((x) => x.statusCalls).join(", ")}, token ${p.map((x) => x.tokenCalls).join(", ")} ` +
        `(must be ${Math.min(MITRAS, vd.allowedPerWindow)}); bursts of ${fmt(BURST_READS, 0)} reads, ${BURST_CONCURRENCY} at a time over ` +
        `${GATEWAYS} gateway process(es), every poll due: status ${pb.map((x) => x.statusCalls).join(", ")}, token ` +
        `${pb.map((x) => x.tokenCalls).join(", ")} (must be ${MITRAS}: one per verification per 30 s, whichever process reads) → ` +
        `${vd.pollsOk ? "PASS" : "FAIL"}; baseline windows ${b.reduce((n, x) => n + x.statusCalls + x.tokenCalls, 0)}`,
    );
    line(`  every verification read answered 200 in_progress with its token: ${vd.readsOk ? "yes" : "NO"}`);
  }
  if (r.expiries.length > 0) {
    line();
    const e = r.expiries;
    line(
      `2. provider calls per expiry: a signed EXPIRED webhook, then ${fmt(BURST_READS, 0)} status reads ` +
        `${BURST_CONCURRENCY} at a time over ${GATEWAYS} gateway processes (shared database and key prefix); ` +
        `${EXPIRIES} expiries`,
    );
    line(
      `  ${padEnd("expiry", 8)}${pad("token calls", 12)}${pad("new token", 11)}${pad("pending", 9)}` +
        `${pad("pend. after", 13)}${pad("other", 7)}${pad("tokens", 8)}${pad("re-mints", 10)}${pad("orphans", 9)}` +
        `${pad("ms", 7)}`,
    );
    e.forEach((x, k) => {
      const other = Object.values(x.other).reduce((n, c) => n + c, 0) + x.oldToken + x.httpErrors;
      line(
        `  ${padEnd(k + 1, 8)}${pad(x.tokenCalls, 12)}${pad(x.newToken, 11)}${pad(x.pending, 9)}` +
          `${pad(x.pendingAfterNew, 13)}${pad(other, 7)}${pad(x.distinctTokens, 8)}${pad(`+${x.recreates}`, 10)}` +
          `${pad(x.tokenCalls - x.recreates, 9)}` +
          `${pad(fmt(x.durationMs, 0), 7)}`,
      );
    });
    const calls = e.reduce((n, x) => n + x.tokenCalls, 0);
    const reads = e.reduce((n, x) => n + x.reads, 0);
    line(
      `  ${calls} token calls for ${e.length} expiries = ${fmt(calls / e.length, 2)} per expiry ` +
        `(${fmt((calls / reads) * 1000, 2)} per 1,000 reads; target ≤ 1 per expiry, and exactly 1: someone must get a token) ` +
        `→ ${vd.expiriesOk ? "PASS" : "FAIL"}`,
    );
    line(
      `  readers: ${e.reduce((n, x) => n + x.newToken, 0)} got the new token, ${e.reduce((n, x) => n + x.pending, 0)} ` +
        `pending (no token), ${e.reduce((n, x) => n + x.oldToken, 0)} the old token, ` +
        `${e.reduce((n, x) => n + Object.values(x.other).reduce((a, c) => a + c, 0), 0)} another status (expired must be 0), ` +
        `${e.reduce((n, x) => n + x.httpErrors, 0)} errors; status calls during the bursts ${e.reduce((n, x) => n + x.statusCalls, 0)}`,
    );
    line(
      "  pend. after: pending answers that came after some reader already had the new token (the loser read " +
        "the row before the re-mint's write); tokens: distinct new tokens answered (must be 1, the stored one); " +
        "re-mints: recreate_count's growth; orphans: token calls whose session was never stored (token calls − re-mints); " +
        "other: old token, another status, or an HTTP error",
    );
  }
  line();
  line(
    `gateway log over the whole run: ${r.gatewayLog.error} errors, ${r.gatewayLog.warn} warnings` +
      `${r.gatewayLog.first.length ? `; first: ${r.gatewayLog.first.join(" | ")}` : ""}`,
  );
  return out.join("\n");
}

// ---------------------------------------------------------------- main

async function run() {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run \`npm run build\` first`);
  if (!existsSync(`${DIST}/verification/verifications.js`))
    throw new Error(`this build has no ${DIST}/verification/verifications.js (verification is not in it)`);
  const started = Date.now();
  const fake = await new FakeIdenfy({
    apiKey: API_KEY,
    apiSecret: API_SECRET,
    latencyMs: PROVIDER_MS,
  }).start();
  owned.closers.push(() => fake.stop());
  const { migrate } = await import(pathToFileURL(`${DIST}/db/migrate.js`).href);
  log(
    `verification-bench: database ${DB_NAME}, Valkey ${VALKEY_URL} prefix ${KEY_PREFIX}, iDenfy ${fake.url}`,
  );
  await createDatabase(PG_ADMIN_URL, DB_NAME);
  owned.dbCreated = true;
  await migrate(DATABASE_URL);
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });
  // An idle client cut off (the scratch database dropped WITH (FORCE) at the end) must not crash the bench.
  pool.on("error", () => {});
  owned.closers.push(() => pool.end());
  const valkey = new Redis(VALKEY_URL, { maxRetriesPerRequest: 1 });
  owned.closers.push(async () => valkey.disconnect());

  const gws = await startGateways(GATEWAYS, {
    DATABASE_URL,
    VALKEY_URL,
    VALKEY_KEY_PREFIX: KEY_PREFIX,
    AUTH_JWT_SECRET: JWT_SECRET,
    IDENFY_API_URL: fake.url,
    IDENFY_API_KEY: API_KEY,
    IDENFY_API_SECRET: API_SECRET,
    IDENFY_WEBHOOK_SECRET: WEBHOOK_SECRET,
  });
  log(`${gws.length} gateway(s) up: ${gws.map((g) => `${g.publicUrl} (pid ${g.pid})`).join(", ")}`);
  const ownPids = [process.pid, ...gws.map((g) => g.pid)];

  const r = {
    busyBeforeRun: [],
    idleCpuUsPerSecond: Number.NaN,
    reads: { verification: [], baseline: [], pollDue: [] },
    pollBursts: [],
    expiries: [],
  };
  const httpPools = burstPools(gws);
  if (PARTS.includes("reads")) await readsSection(pool, gws, httpPools, fake, r, ownPids);
  if (PARTS.includes("expiry")) await expirySection(pool, gws, httpPools, fake, valkey, r, ownPids);
  if (fake.refused > 0)
    log(`WARNING: the fake iDenfy refused ${fake.refused} call(s) (auth, shape or scanRef)`);

  r.gatewayLog = gatewayLog;
  const table = report(r);
  log(table);
  log(`\n(total ${fmt((Date.now() - started) / 1000, 0)} s)`);
  writeResults("verification-bench", {
    runs: RUNS,
    rate: RATE,
    windowMs: WINDOW_MS,
    mitras: MITRAS,
    gateways: GATEWAYS,
    expiries: EXPIRIES,
    burstReads: BURST_READS,
    burstConcurrency: BURST_CONCURRENCY,
    providerMs: PROVIDER_MS,
    results: r,
    table,
  });
  const vd = verdicts(r);
  return vd.pollsOk && vd.readsOk && vd.expiriesOk ? 0 : 1;
}

await runWithDeadline({
  name: "verification-bench",
  main: run,
  cleanup,
  log,
  dbName: DB_NAME,
  stopping: "gateways",
  deadlineMs: DEADLINE_MS,
});
