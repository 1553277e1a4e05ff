/**
 * WebSocket connect-burst check (issue 18, see bench/README.md). Proves that
 * no freshly upgraded socket is closed by a running gateway without a close
 * frame: three gateway processes (dist/main.js, child processes) on one
 * scratch database and one Valkey key prefix, each on its own port;
 * BENCH_BURST_SOCKETS (20,000) authenticated sockets opened in bursts of
 * BENCH_BURST_IN_FLIGHT (500) connects at once, dealt round-robin over the
 * three gateways, from BENCH_BURST_CLIENTS (4) client processes (this file
 * with `--client`), so no process holds more than ~19,000 open files (the
 * hard limit here is 20,000 per process).
 *
 * Each socket must get `hello` within 5 s; it is then held open until every
 * socket of its client is at least BENCH_BURST_HOLD_MS (300) past its hello,
 * and only then closed by the client. A close the client did not ask for is
 * counted by code; 1006 (no close frame) is the defect. Exit 1 if any socket
 * closed dirty or early; 2 if none did but some were not checked (no hello
 * within 5 s, refused, or failed before the 101: on a machine too busy to
 * connect them, for instance); 1 as well on an error, 130 on Ctrl-C.
 *
 *   npm run build && node bench/ws-burst-bench.mjs
 *   BENCH_BURST_DIST=/other/checkout/dist node bench/ws-burst-bench.mjs   # another build
 *
 * BENCH_BURST_SOCKETS (20000), BENCH_BURST_IN_FLIGHT (500, over all clients),
 * BENCH_BURST_CLIENTS (4), BENCH_BURST_HOLD_MS (300), BENCH_BURST_MITRAS (50),
 * BENCH_BURST_CUSTOMERS (50), BENCH_BURST_DEADLINE_SECONDS (150),
 * BENCH_PG_ADMIN_URL, BENCH_VALKEY_URL, BENCH_QUIET_WAIT_SECONDS override defaults.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { resolve as resolvePath } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import WebSocket from "ws";
import { runWithDeadline } from "./lib/bench-lifecycle.mjs";
import { BASE_ENV, nodeCommand, openFilesLimit, startChild } from "./lib/child-service.mjs";
import { waitForQuiet } from "./lib/machine-load.mjs";
import { processCpuUs } from "./lib/proc-stat.mjs";
import { writeResults } from "./lib/results-file.mjs";
import { createDatabase, deleteValkeyKeys, dropDatabase, scratchDatabaseUrl } from "./lib/scratch-stores.mjs";
import { signedInMitras } from "./lib/signed-in-mitras.mjs";
import { fmt, percentile } from "./lib/stats.mjs";

const env = process.env;
const int = (v, d) => (v && /^\d+$/.test(v) ? Number(v) : d);
const GATEWAYS = 3;
const SOCKETS = int(env.BENCH_BURST_SOCKETS, 20_000);
const IN_FLIGHT = Math.max(1, int(env.BENCH_BURST_IN_FLIGHT, 500));
const CLIENTS = Math.max(1, int(env.BENCH_BURST_CLIENTS, 4));
const HOLD_MS = int(env.BENCH_BURST_HOLD_MS, 300);
const MITRAS = int(env.BENCH_BURST_MITRAS, 50);
const CUSTOMERS = int(env.BENCH_BURST_CUSTOMERS, 50);
const DEADLINE_MS = int(env.BENCH_BURST_DEADLINE_SECONDS, 150) * 1000;
const HELLO_TIMEOUT_MS = 5000;
/** Open files any one process may have: under the hard limit of 20,000 here (../shared/stack-notes.md). */
const MAX_FILES = 19_000;
/** A process's own files besides its sockets (node, libuv, the pg pool, Valkey, pipes). */
const FD_HEADROOM = 1024;
const QUIET_BELOW = 0.15;
const QUIET_WAIT_MS = int(env.BENCH_QUIET_WAIT_SECONDS, 20) * 1000;
const PG_ADMIN_URL = env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const VALKEY_URL = env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";

const SELF = fileURLToPath(import.meta.url);
const DIST = env.BENCH_BURST_DIST
  ? resolvePath(env.BENCH_BURST_DIST)
  : fileURLToPath(new URL("../dist", import.meta.url));
const MAIN_JS = `${DIST}/main.js`;
const DB_NAME = `halo_bench_burst_${process.pid}`;
const KEY_PREFIX = `halo_bench_burst_${process.pid}:`;
const JWT_SECRET = randomBytes(36).toString("base64url");
const DATABASE_URL = scratchDatabaseUrl(PG_ADMIN_URL, DB_NAME);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (s) => process.stdout.write(`${s}\n`);
/** Epoch ms with sub-ms resolution, comparable across the bench's processes. */
const absNow = () => performance.timeOrigin + performance.now();
const sum = (xs) => xs.reduce((a, b) => a + b, 0);

// ================================================================ client process

/** Counters per gateway (arrays of GATEWAYS), summed by the bench over its clients. */
function newTally() {
  const perGateway = () => Array(GATEWAYS).fill(0);
  return {
    started: perGateway(),
    upgraded: perGateway(),
    hello: perGateway(),
    noHello: perGateway(),
    refused: perGateway(),
    failedBefore101: perGateway(),
    closedBeforeHello: perGateway(),
    dirtyBeforeHello: perGateway(),
    closedAfterHello: perGateway(),
    dirtyAfterHello: perGateway(),
    /** Codes of every close the client did not ask for, after the 101. */
    closeCodes: {},
    refusedStatus: {},
    firstError: "",
    /** The first few unasked-for closes, for the report: gateway, code, ms after hello (or after the 101). */
    examples: [],
  };
}

function frameType(data) {
  try {
    return JSON.parse(data.toString()).type;
  } catch {
    return undefined;
  }
}

function clientProcess() {
  const tally = newTally();
  /** Sockets that got hello and are held until the client closes them. */
  const held = [];
  const helloMs = [];
  let firstStart = Number.POSITIVE_INFINITY;
  let lastHello = 0;

  /** A close the client did not ask for: counted by where in its life the socket was. */
  const onClose = (s, code) => {
    if (s.clientClosed) return;
    const g = s.g;
    if (!s.upgradedAt) tally.failedBefore101[g]++;
    else {
      tally.closeCodes[code] = (tally.closeCodes[code] ?? 0) + 1;
      const after = s.helloAt ? "AfterHello" : "BeforeHello";
      tally[`closed${after}`][g]++;
      if (code === 1006) tally[`dirty${after}`][g]++;
      if (tally.examples.length < 10)
        tally.examples.push({
          gateway: g + 1,
          code,
          afterHelloMs: s.helloAt ? Math.round(absNow() - s.helloAt) : null,
          after101Ms: Math.round(absNow() - s.upgradedAt),
        });
    }
    s.settle();
  };

  /** The client ends a socket itself: whatever follows is not counted against the gateway. */
  const closeByClient = (s) => {
    s.clientClosed = true;
    s.ws.terminate();
  };

  /** Opens one socket; resolves when it got hello, was refused, failed, closed, or timed out. */
  const openOne = (url, token, g) =>
    new Promise((settle) => {
      const s = { g, ws: null, startedAt: absNow(), upgradedAt: 0, helloAt: 0, clientClosed: false };
      firstStart = Math.min(firstStart, s.startedAt);
      tally.started[g]++;
      const timer = setTimeout(() => {
        tally.noHello[g]++;
        closeByClient(s);
        s.settle();
      }, HELLO_TIMEOUT_MS);
      s.settle = () => {
        clearTimeout(timer);
        settle();
      };
      s.ws = new WebSocket(url, {
        headers: { authorization: `Bearer ${token}` },
        perMessageDeflate: false,
        // Longer than the hello timer, so a slow handshake is counted as "no hello", not as a failure.
        handshakeTimeout: HELLO_TIMEOUT_MS + 1000,
      });
      s.ws.on("upgrade", () => {
        s.upgradedAt = absNow();
        tally.upgraded[g]++;
      });
      s.ws.on("message", (data) => {
        // Only the first frame matters (hello; a customer's availability frame follows it).
        if (s.helloAt || s.clientClosed) return;
        if (frameType(data) !== "hello") return;
        s.helloAt = absNow();
        lastHello = Math.max(lastHello, s.helloAt);
        helloMs.push(Math.round((s.helloAt - s.startedAt) * 1000) / 1000);
        tally.hello[g]++;
        held.push(s);
        s.settle();
      });
      s.ws.on("unexpected-response", (_req, res) => {
        tally.refused[g]++;
        tally.refusedStatus[res.statusCode] = (tally.refusedStatus[res.statusCode] ?? 0) + 1;
        closeByClient(s);
        s.settle();
      });
      s.ws.on("error", (err) => {
        tally.firstError ||= String(err.message);
      });
      s.ws.on("close", (code) => onClose(s, code));
    });

  /**
   * Socket i of the run (i = first + j·stride) goes to gateway i mod 3 with
   * token i mod tokens; `burst` connects start together and the next burst
   * starts when all of them are settled.
   */
  const runBursts = async ({ urls, tokens, first, stride, count, burst }) => {
    for (let j = 0; j < count; j += burst) {
      const wave = [];
      for (let b = j; b < Math.min(count, j + burst); b++) {
        const i = first + b * stride;
        wave.push(openOne(urls[i % urls.length], tokens[i % tokens.length], i % urls.length));
      }
      await Promise.all(wave);
    }
    return {
      type: "opened",
      firstStart,
      lastHello,
      open: held.filter((s) => !s.clientClosed && s.ws.readyState === WebSocket.OPEN).length,
      openFiles: readdirSync("/proc/self/fd").length,
    };
  };

  /** Waits until every held socket is holdMs past its hello, then closes them all (client side). */
  const closeAll = async ({ holdMs }) => {
    // A timer may fire a fraction of a millisecond early: wait until the hold has really passed.
    while (absNow() < lastHello + holdMs) await sleep(Math.max(1, lastHello + holdMs - absNow()));
    // A socket the server began to close just now (its close frame is in, the TCP close is not yet)
    // still counts against the gateway: let it finish closing by itself first.
    const serverClosing = held.filter((s) => !s.clientClosed && s.ws.readyState === WebSocket.CLOSING);
    await Promise.race([
      Promise.all(serverClosing.map((s) => new Promise((done) => s.ws.once("close", done)))),
      sleep(2000),
    ]);
    const closedAt = absNow();
    const minHoldMs = held.length > 0 ? closedAt - lastHello : Number.NaN;
    const maxHoldMs = held.length > 0 ? closedAt - Math.min(...held.map((s) => s.helloAt)) : Number.NaN;
    // The tally is final here: nothing after this point can count against the gateway.
    const snapshot = structuredClone(tally);
    const closing = held.map(
      (s) =>
        new Promise((done) => {
          if (s.ws.readyState === WebSocket.CLOSED) return done();
          s.ws.once("close", done);
          closeByClient(s);
        }),
    );
    await Promise.all(closing);
    return { type: "closed", tally: snapshot, helloMs, minHoldMs, maxHoldMs };
  };

  process.on("message", async (m) => {
    let reply;
    try {
      if (m.cmd === "run") reply = await runBursts(m);
      else if (m.cmd === "close") reply = await closeAll(m);
      else reply = { type: "error", message: `unknown command ${m.cmd}` };
    } catch (err) {
      reply = { type: "error", message: String(err?.stack ?? err) };
    }
    process.send(reply);
  });
  // The bench is gone (crashed or killed): nothing left to report to.
  process.on("disconnect", () => process.exit(0));
  process.send({ type: "ready" });
}

// ================================================================ bench process

async function benchProcess() {
  const owned = { gateways: new Set(), clients: [], dbCreated: false, pool: null };

  async function cleanup() {
    for (const c of owned.clients.splice(0)) c.kill();
    await Promise.all([...owned.gateways].map((svc) => svc.stop("SIGTERM", 5000).catch(() => {})));
    await owned.pool?.end().catch(() => {});
    if (owned.dbCreated)
      await dropDatabase(PG_ADMIN_URL, DB_NAME).catch((err) =>
        log(`could not drop ${DB_NAME}: ${err.message}`),
      );
    await deleteValkeyKeys(VALKEY_URL, KEY_PREFIX).catch((err) =>
      log(`could not delete ${KEY_PREFIX}* keys: ${err.message}`),
    );
  }

  await runWithDeadline({
    name: "ws-burst-bench",
    main: () => run(owned),
    cleanup,
    log,
    dbName: DB_NAME,
    stopping: "gateways and clients",
    deadlineMs: DEADLINE_MS,
  });
}

/** Sockets each gateway and each client process holds at the peak; refuses a plan that passes MAX_FILES. */
function filePlan() {
  const perGateway = Math.ceil(SOCKETS / GATEWAYS);
  const perClient = Math.ceil(SOCKETS / CLIENTS);
  const worst = Math.max(perGateway, perClient) + FD_HEADROOM;
  if (worst > MAX_FILES)
    throw new Error(
      `${fmt(SOCKETS, 0)} sockets need ${fmt(perGateway, 0)} per gateway and ${fmt(perClient, 0)} per client ` +
        `process (+${FD_HEADROOM} of their own), over the ${fmt(MAX_FILES, 0)} open files a process may use ` +
        "here: lower BENCH_BURST_SOCKETS or raise BENCH_BURST_CLIENTS",
    );
  return { perGateway, perClient };
}

async function run(owned) {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run \`npm run build\` first`);
  const plan = filePlan();
  const started = Date.now();
  log(
    `ws-burst-bench: ${DIST}/main.js × ${GATEWAYS}, database ${DB_NAME}, Valkey ${VALKEY_URL} prefix ${KEY_PREFIX}`,
  );
  const { migrate } = await import(pathToFileURL(`${DIST}/db/migrate.js`).href);
  await createDatabase(PG_ADMIN_URL, DB_NAME);
  owned.dbCreated = true;
  await migrate(DATABASE_URL);
  owned.pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });

  const gateways = await Promise.all(Array.from({ length: GATEWAYS }, (_, i) => startGateway(owned, i)));
  log(`  gateways: ${gateways.map((g) => `${g.wsUrl} (pid ${g.pid})`).join(", ")}`);
  const tokens = await signIn(owned.pool, gateways);

  const clients = Array.from({ length: CLIENTS }, (_, k) => startClient(owned, k));
  await Promise.all(clients.map((c) => c.ready));
  for (const c of clients) checkFdLimit(`client ${c.k + 1}`, c.pid, plan.perClient);

  const busy = await waitForQuiet(QUIET_BELOW, QUIET_WAIT_MS);
  log(`  machine ${fmt(busy * 100, 0)} % busy before the bursts${busy >= QUIET_BELOW ? " (NOT QUIET)" : ""}`);

  const pids = { gateways: gateways.map((g) => g.pid), clients: clients.map((c) => c.pid) };
  const before = cpuSnapshot(pids);
  const opened = await burst(clients, gateways, tokens);
  const load = cpuShares(before, cpuSnapshot(pids));
  // At the peak (every socket open): what each gateway registered, and every process's open files.
  const serverCounts = await Promise.all(gateways.map((g) => g.socketCount()));
  const files = {
    gateways: gateways.map((g) => openFiles(g.pid)),
    clients: opened.map((o) => o.openFiles),
  };
  const closed = await Promise.all(clients.map((c) => c.call({ cmd: "close", holdMs: HOLD_MS })));

  const r = { ...summarize(opened, closed, serverCounts, files, gateways), load };
  const table = report(r, busy);
  log(table);
  log(`\n(total ${fmt((Date.now() - started) / 1000, 0)} s)`);
  writeResults("ws-burst-bench", {
    dist: DIST,
    sockets: SOCKETS,
    inFlight: IN_FLIGHT,
    clients: CLIENTS,
    holdMs: HOLD_MS,
    results: r,
    table,
  });
  return r.exitCode;
}

// ---------------------------------------------------------------- gateways

function startGateway(owned, i) {
  const warnings = [];
  const svc = startChild({
    name: `gateway ${i + 1}`,
    args: [MAIN_JS],
    fdLimit: MAX_FILES,
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
    },
    isReady: (j) => j.msg === "listening",
    // pino levels: 40 warn, 50 error. A dirty close leaves no log line, but anything else odd might.
    onLine: (j) => j.level >= 40 && warnings.push(j.msg),
  });
  owned.gateways.add(svc);
  svc.child.once("exit", () => owned.gateways.delete(svc));
  return svc.ready.then((l) => {
    checkFdLimit(`gateway ${i + 1}`, svc.child.pid, Math.ceil(SOCKETS / GATEWAYS));
    const internalUrl = `http://127.0.0.1:${l.internalPort}`;
    return {
      i,
      pid: svc.child.pid,
      warnings,
      publicUrl: `http://127.0.0.1:${l.publicPort}`,
      wsUrl: `ws://127.0.0.1:${l.publicPort}/ws`,
      socketCount: () =>
        metricSum(internalUrl, "halo_ws_sockets").catch((err) => {
          // A gateway that died mid-run closed its sockets dirty: say so, with its last output.
          const c = svc.child;
          if (c.exitCode === null && c.signalCode === null) throw err;
          throw new Error(`gateway ${i + 1} exited (${c.exitCode ?? c.signalCode})\n${svc.output()}`);
        }),
    };
  });
}

function checkFdLimit(name, pid, sockets) {
  const limit = openFilesLimit(pid);
  if (limit < sockets + FD_HEADROOM)
    throw new Error(
      `${name} runs with an open-files limit of ${limit}, too low for ${fmt(sockets, 0)} sockets ` +
        `(raise the hard limit, ulimit -Hn, to at least ${MAX_FILES})`,
    );
}

/** Sum of a metric over its labels, from the gateway's /metrics. */
async function metricSum(internalUrl, name) {
  const res = await fetch(`${internalUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return sum(
    [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([^\\s]+)`, "gm"))].map((m) => Number(m[1])),
  );
}

/** Machine-wide CPU ticks (/proc/stat) and the bench's own processes' CPU, to tell its load from others'. */
function cpuSnapshot(pids) {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return {
    idle: f[3] + (f[4] ?? 0),
    total: sum(f),
    gatewaysUs: sum(pids.gateways.map((pid) => processCpuUs(pid))),
    clientsUs: sum(pids.clients.map((pid) => processCpuUs(pid))),
    at: performance.now(),
  };
}

/**
 * Over the bursts: how busy the whole machine was (all cores), and how much
 * of it the gateways and clients themselves; the rest is Valkey, Postgres
 * and whatever else ran. A slow connect rate can then be told from a busy machine.
 */
function cpuShares(a, b) {
  const busy = 1 - (b.idle - a.idle) / (b.total - a.total);
  const capacityUs = (b.at - a.at) * 1000 * cpus().length;
  const gateways = (b.gatewaysUs - a.gatewaysUs) / capacityUs;
  const clients = (b.clientsUs - a.clientsUs) / capacityUs;
  const gatewayUs = b.gatewaysUs - a.gatewaysUs;
  return { busy, gateways, clients, other: Math.max(0, busy - gateways - clients), gatewayUs };
}

const openFiles = (pid) => {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return Number.NaN;
  }
};

/**
 * A modest pool of tokens, each used by many sockets: mitras made in Postgres
 * with tokens signed here (lib/signed-in-mitras.mjs), and anonymous customers
 * signed in through the gateways' own HTTP route (customers also get an
 * availability frame after hello). Interleaved, so every gateway sees both.
 */
async function signIn(pool, gateways) {
  const mitras = await signedInMitras(pool, MITRAS, JWT_SECRET, { online: false });
  const customers = [];
  for (let i = 0; i < CUSTOMERS; i++) {
    const res = await fetch(`${gateways[i % GATEWAYS].publicUrl}/api/shared/auth/anonymous`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const body = await res.json().catch(() => null);
    if (res.status !== 201 || typeof body?.accessToken !== "string")
      throw new Error(`anonymous sign-in answered ${res.status}`);
    customers.push(body.accessToken);
  }
  const tokens = [];
  for (let i = 0; i < Math.max(mitras.length, customers.length); i++) {
    if (i < mitras.length) tokens.push(mitras[i]);
    if (i < customers.length) tokens.push(customers[i]);
  }
  if (tokens.length === 0)
    throw new Error("no tokens: BENCH_BURST_MITRAS and BENCH_BURST_CUSTOMERS are both 0");
  log(`  signed in ${MITRAS} mitras and ${CUSTOMERS} anonymous customers`);
  return tokens;
}

// ---------------------------------------------------------------- client processes

function startClient(owned, k) {
  const [command, argv] = nodeCommand([SELF, "--client"], MAX_FILES);
  const child = spawn(command, argv, { env: BASE_ENV, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiters = [];
  let exited = null;
  child.on("message", (m) => waiters.shift()?.resolve(m));
  child.once("exit", (code, signal) => {
    exited = `client ${k + 1} exited (${code ?? signal})`;
    for (const w of waiters.splice(0)) w.reject(new Error(exited));
  });
  const next = () =>
    new Promise((resolve, reject) =>
      exited ? reject(new Error(exited)) : waiters.push({ resolve, reject }),
    );
  const client = {
    k,
    pid: child.pid,
    ready: next(),
    async call(msg) {
      const reply = next();
      if (!exited) child.send(msg, (err) => err && waiters.shift()?.reject(err));
      const r = await reply;
      if (r.type === "error") throw new Error(`client ${k + 1}: ${r.message}`);
      return r;
    },
    /** By its own pid (the shell exec'd node, so the pid is node's). */
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
  owned.clients.push(client);
  return client;
}

/**
 * Every client opens its share (sockets k, k + CLIENTS, …) in bursts of
 * IN_FLIGHT / CLIENTS, all clients at once, so about IN_FLIGHT connects are
 * in flight over the three gateways. No source address is bound (unlike
 * ws-bench): connect() then picks a port per destination, ~6,700 each here
 * out of 28,000, while bind() to 127.0.0.x:0 searches one port range for
 * every socket and, with the TIME_WAIT entries of a previous run, made the
 * clients 2–3 times slower (measured: 1,700 against 4,800 sockets/s).
 */
function burst(clients, gateways, tokens) {
  const perClientBurst = Math.max(1, Math.round(IN_FLIGHT / CLIENTS));
  log(
    `  opening ${fmt(SOCKETS, 0)} sockets: ${CLIENTS} clients × bursts of ${perClientBurst}, ` +
      `round-robin over ${GATEWAYS} gateways, ${tokens.length} tokens`,
  );
  return Promise.all(
    clients.map((c) =>
      c.call({
        cmd: "run",
        urls: gateways.map((g) => g.wsUrl),
        tokens,
        first: c.k,
        stride: CLIENTS,
        count: Math.ceil((SOCKETS - c.k) / CLIENTS),
        burst: perClientBurst,
      }),
    ),
  );
}

// ---------------------------------------------------------------- report

function summarize(opened, closed, serverCounts, files, gateways) {
  const t = newTally();
  for (const { tally } of closed) {
    for (const [key, v] of Object.entries(tally)) {
      if (!Array.isArray(v) || key === "examples") continue;
      for (let g = 0; g < GATEWAYS; g++) t[key][g] += v[g];
    }
    for (const key of ["closeCodes", "refusedStatus"])
      for (const [code, n] of Object.entries(tally[key])) t[key][code] = (t[key][code] ?? 0) + n;
    t.firstError ||= tally.firstError;
    t.examples.push(...tally.examples);
  }
  const total = (key) => sum(t[key]);
  const firstStart = Math.min(...opened.map((o) => o.firstStart));
  const lastHello = Math.max(...opened.map((o) => o.lastHello));
  const helloMs = closed.flatMap((c) => c.helloMs);
  const dirty = total("dirtyAfterHello") + total("dirtyBeforeHello");
  const early = total("closedAfterHello") + total("closedBeforeHello");
  const unchecked = SOCKETS - total("hello");
  return {
    tally: t,
    serverCounts,
    files,
    gatewayWarnings: gateways.map((g) => g.warnings.length),
    warningSamples: gateways.flatMap((g) => g.warnings).slice(0, 5),
    connectSeconds: (lastHello - firstStart) / 1000,
    perSecond: total("hello") / ((lastHello - firstStart) / 1000),
    helloP50Ms: percentile(helloMs, 50),
    helloP99Ms: percentile(helloMs, 99),
    helloMaxMs: percentile(helloMs, 100),
    minHoldMs: Math.min(...closed.map((c) => c.minHoldMs)),
    maxHoldMs: Math.max(...closed.map((c) => c.maxHoldMs)),
    dirty,
    early,
    unchecked,
    // The defect (or any close the client did not ask for) first; sockets never checked are no proof either way.
    exitCode: dirty + early > 0 ? 1 : unchecked > 0 ? 2 : 0,
  };
}

const pad = (s, n) => String(s).padStart(n);
const padEnd = (s, n) => String(s).padEnd(n);

function report(r, busy) {
  const t = r.tally;
  const out = [];
  const line = (s = "") => out.push(s);
  const row = (name, perGateway, note = "") =>
    line(
      `  ${padEnd(name, 50)}${pad(fmt(sum(perGateway), 0), 8)}` +
        perGateway.map((n) => pad(fmt(n, 0), 8)).join("") +
        (note ? `   ${note}` : ""),
    );
  const plus = (a, b) => a.map((x, g) => x + b[g]);
  line();
  line(
    `ws-burst-bench — ${fmt(SOCKETS, 0)} authenticated sockets, ${IN_FLIGHT} connects in flight, ` +
      `${GATEWAYS} gateway processes, ${CLIENTS} client processes (ws); hold ≥ ${HOLD_MS} ms after hello; ` +
      `${cpus().length} cores, machine ${fmt(busy * 100, 0)} % busy before`,
  );
  if (busy >= QUIET_BELOW)
    line(
      `WARNING: NOT QUIET — the machine was ${fmt(busy * 100, 0)} % busy with other work before the bursts: ` +
        "the connect rate is disturbed (the counts are not).",
    );
  line();
  line(
    `  ${padEnd("", 50)}${pad("total", 8)}${Array.from({ length: GATEWAYS }, (_, g) => pad(`gw ${g + 1}`, 8)).join("")}`,
  );
  row("connects started", t.started);
  row("upgraded (101)", t.upgraded);
  row("hello received", t.hello);
  row("sockets the gateway counted (halo_ws_sockets)", r.serverCounts, "at the peak, all open");
  row(`no hello within ${HELLO_TIMEOUT_MS / 1000} s`, t.noHello);
  row("refused (HTTP) or failed before the 101", plus(t.refused, t.failedBefore101));
  row("closed without a close frame (1006) after hello", t.dirtyAfterHello, "must be 0");
  row("closed 1006 after the 101, before hello", t.dirtyBeforeHello, "must be 0");
  row("closed early, any code (before the client closed)", plus(t.closedAfterHello, t.closedBeforeHello));
  line();
  line(
    `  connect rate: ${fmt(r.perSecond, 0)} sockets/s (${fmt(sum(t.hello), 0)} hellos in ` +
      `${fmt(r.connectSeconds, 1)} s, first connect to last hello); connect → hello p50 ` +
      `${fmt(r.helloP50Ms, 1)} ms, p99 ${fmt(r.helloP99Ms, 1)} ms, max ${fmt(r.helloMaxMs, 1)} ms`,
  );
  line(
    `  CPU during the bursts: machine ${fmt(r.load.busy * 100, 0)} % busy (all ${cpus().length} cores), ` +
      `gateways ${fmt(r.load.gateways * 100, 0)} %, clients ${fmt(r.load.clients * 100, 0)} %, ` +
      "the rest (Valkey, Postgres, anything else) " +
      `${fmt(r.load.other * 100, 0)} %; ${fmt(r.load.gatewayUs / sum(t.hello), 0)} µs of gateway CPU per socket`,
  );
  line(
    `  held after hello: at least ${fmt(r.minHoldMs, 0)} ms, at most ${fmt(r.maxHoldMs / 1000, 1)} s ` +
      "(every socket stays open until the client closes all of its own)",
  );
  line(
    `  open files at the peak: gateways ${r.files.gateways.map((n) => fmt(n, 0)).join(" / ")}, ` +
      `clients ${r.files.clients.map((n) => fmt(n, 0)).join(" / ")} (limit ${fmt(MAX_FILES, 0)} each)`,
  );
  line(`  gateway log lines at warn or above: ${r.gatewayWarnings.join(" / ")}`);
  for (const w of r.warningSamples) line(`    ${w}`);
  if (Object.keys(t.closeCodes).length > 0)
    line(
      `  unasked-for close codes: ${JSON.stringify(t.closeCodes)}; first: ${JSON.stringify(t.examples.slice(0, 5))}`,
    );
  if (Object.keys(t.refusedStatus).length > 0) line(`  refused with HTTP ${JSON.stringify(t.refusedStatus)}`);
  if (t.firstError) line(`  first client-side error: ${t.firstError}`);
  line(
    `  verdict: ${["PASS", "FAIL", "INCOMPLETE"][r.exitCode]} (exit ${r.exitCode}) — ${fmt(r.dirty, 0)} closed without a close frame, ` +
      `${fmt(r.early, 0)} closed early, ${fmt(r.unchecked, 0)} not checked (no hello)`,
  );
  return out.join("\n");
}

// Last, so every helper above is defined: one file, two roles.
if (process.argv[2] === "--client") clientProcess();
else await benchProcess();
