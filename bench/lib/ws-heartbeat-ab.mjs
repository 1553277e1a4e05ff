/**
 * "The heartbeat path must not get slower": ws-bench's closed-loop heartbeat
 * windows (200 sockets, 200 sockets paced at 50/s each, 1,000 sockets) and
 * its connect burst, run against this checkout's build and against another
 * build of the gateway (a git worktree of an earlier commit, built there),
 * interleaved: each round runs ws-bench once per tree, in alternating order
 * (A B, B A, A B, …). Each tree runs its own bench/ws-bench.mjs against its
 * own dist/ and node_modules, so the bench script must be the same in both
 * (checked). Not run by `npm run bench` (it needs the other tree).
 *
 *   git worktree add /tmp/halo-base 34d3b93 && (cd /tmp/halo-base && npm ci && npm run build)
 *   npm run build && node bench/lib/ws-heartbeat-ab.mjs /tmp/halo-base [rounds=3]
 *   git worktree remove /tmp/halo-base
 *
 * Each ws-bench run: BENCH_RUNS=1 BENCH_WS_SECTIONS=closed, and
 * BENCH_WS_SOCKETS=2000 (section 1 does not run; this only keeps the seeded
 * mitras to what sections 2 and 3 use). Its full output goes to
 * bench/results/ws-heartbeat-ab-<time>.log.
 */
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fmt, median } from "./stats.mjs";

const here = fileURLToPath(new URL("../..", import.meta.url));
const base = resolve(process.argv[2] ?? "/tmp/halo-base");
const rounds = Number(process.argv[3] ?? 3);
const trees = [
  { name: "current", dir: resolve(here) },
  { name: "base", dir: base },
];
const log = (s) => process.stdout.write(`${s}\n`);
const stamp = new Date().toISOString().replace(/[:.]/g, "-");
const resultsDir = resolve(here, "bench/results");
mkdirSync(resultsDir, { recursive: true });
const logFile = createWriteStream(resolve(resultsDir, `ws-heartbeat-ab-${stamp}.log`));

for (const t of trees) {
  if (!existsSync(resolve(t.dir, "dist/main.js")))
    throw new Error(`${t.dir}/dist/main.js is missing: build it first`);
  t.bench = readFileSync(resolve(t.dir, "bench/ws-bench.mjs"), "utf8");
}
if (trees[0].bench !== trees[1].bench)
  log(
    "WARNING: bench/ws-bench.mjs differs between the two trees; each runs its own, so the figures may not compare",
  );

let child = null;
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    // ws-bench cleans up its own database, keys and processes on SIGTERM.
    if (child && child.exitCode === null) child.kill("SIGTERM");
    child?.once("exit", () => process.exit(130));
    if (!child || child.exitCode !== null) process.exit(130);
  });
}

function runWsBench(tree) {
  const dir = resolve(tree.dir, "bench/results");
  const before = new Set(existsSync(dir) ? readdirSync(dir) : []);
  return new Promise((done, fail) => {
    logFile.write(`\n=== ${tree.name} (${tree.dir}) ${new Date().toISOString()} ===\n`);
    child = spawn(process.execPath, [resolve(tree.dir, "bench/ws-bench.mjs")], {
      cwd: tree.dir,
      env: { ...process.env, BENCH_RUNS: "1", BENCH_WS_SECTIONS: "closed", BENCH_WS_SOCKETS: "2000" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(logFile, { end: false });
    child.stderr.pipe(logFile, { end: false });
    child.once("exit", (code) => {
      child = null;
      if (code !== 0) return fail(new Error(`ws-bench in ${tree.dir} exited ${code} (see the log)`));
      const fresh = readdirSync(dir).filter(
        (f) => f.startsWith("ws-bench-") && f.endsWith(".json") && !before.has(f),
      );
      if (fresh.length !== 1)
        return fail(new Error(`expected one new ws-bench result in ${dir}, found ${fresh.length}`));
      done(JSON.parse(readFileSync(resolve(dir, fresh[0]), "utf8")));
    });
  });
}

const figures = { current: [], base: [] };
const windowsOf = (res) => res.closedWindows.map((w) => w.key);
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? trees : [...trees].reverse();
  for (const tree of order) {
    const t0 = Date.now();
    const res = await runWsBench(tree);
    const c = res.results.closed;
    const x = { busy: res.results.busyBeforeRun[0] };
    for (const key of windowsOf(res)) {
      const g = c.gateway[key][0];
      const b = c.baseline[key][0];
      x[key] = {
        cpu: g.cpuUsPerOp,
        naiveCpu: b.cpuUsPerOp,
        perSecond: g.perSecond,
        p99: g.p99Ms,
        refused: g.refused,
      };
    }
    x.upgrade = {
      cpu: res.results.connect.gateway[0].cpuUsPerOp,
      naiveCpu: res.results.connect.baseline[0].cpuUsPerOp,
    };
    figures[tree.name].push(x);
    log(
      `round ${round + 1}/${rounds} ${tree.name.padEnd(7)} (${fmt((Date.now() - t0) / 1000, 0)} s, machine ` +
        `${fmt(x.busy * 100, 0)} % busy before): ` +
        windowsOf(res)
          .map((k) => `${k}: ${fmt(x[k].cpu, 1)} µs/hb (naive ${fmt(x[k].naiveCpu, 1)})`)
          .join("; ") +
        `; upgrade ${fmt(x.upgrade.cpu, 0)} µs`,
    );
  }
}

const keys = [...Object.keys(figures.current[0]).filter((k) => k !== "busy")];
const med = (name, key, f) => median(figures[name].map((x) => f(x[key])));
const out = [];
const line = (s = "") => out.push(s);
line();
line(
  `heartbeat path, current build (${trees[0].dir}) vs base (${base}); ws-bench closed sections, median of ${rounds} ` +
    "interleaved runs each",
);
line(
  "server CPU per heartbeat (µs, gateway process, /proc); naive = ws-bench's bare uWS baseline in the same run",
);
line(
  `  ${"".padEnd(16)}${"current".padStart(9)}${"base".padStart(9)}${"ratio".padStart(8)}` +
    `${"cur/naive".padStart(11)}${"base/naive".padStart(12)}${"ratio".padStart(8)}   runs current | base`,
);
const rows = [];
for (const k of keys) {
  const c = med("current", k, (v) => v.cpu);
  const b = med("base", k, (v) => v.cpu);
  const cn = med("current", k, (v) => v.cpu / v.naiveCpu);
  const bn = med("base", k, (v) => v.cpu / v.naiveCpu);
  rows.push({
    window: k,
    current: c,
    base: b,
    ratio: c / b,
    currentVsNaive: cn,
    baseVsNaive: bn,
    normRatio: cn / bn,
  });
  line(
    `  ${(k === "upgrade" ? "per upgrade" : `${k} sockets`).padEnd(16)}${fmt(c, 1).padStart(9)}${fmt(b, 1).padStart(9)}` +
      `${`${fmt(c / b, 3)}×`.padStart(8)}${`${fmt(cn, 2)}×`.padStart(11)}${`${fmt(bn, 2)}×`.padStart(12)}` +
      `${`${fmt(cn / bn, 3)}×`.padStart(8)}   ${figures.current.map((x) => fmt(x[k].cpu, 1)).join(", ")} | ` +
      `${figures.base.map((x) => fmt(x[k].cpu, 1)).join(", ")}`,
  );
}
line("throughput (hb/s) and p99 (ms) of the gateway, medians, current | base:");
for (const k of keys.filter((x) => x !== "upgrade"))
  line(
    `  ${`${k} sockets`.padEnd(16)}${fmt(
      med("current", k, (v) => v.perSecond),
      0,
    )} | ${fmt(
      med("base", k, (v) => v.perSecond),
      0,
    )} hb/s; ` +
      `p99 ${fmt(
        med("current", k, (v) => v.p99),
        2,
      )} | ${fmt(
        med("base", k, (v) => v.p99),
        2,
      )} ms`,
  );
const noisy = [...figures.current, ...figures.base].filter((x) => x.busy >= 0.15).length;
if (noisy > 0) line(`WARNING: ${noisy} runs started with the machine ≥ 15 % busy`);
line("target: current within 5 % of base (ratio ≤ 1.05×) on the paced 200 and the closed loops");
const table = out.join("\n");
log(table);
writeFileSync(
  resolve(resultsDir, `ws-heartbeat-ab-${stamp}.json`),
  `${JSON.stringify({ at: new Date().toISOString(), trees, rounds, figures, rows, table }, (k, v) => (k === "bench" ? undefined : v), 2)}\n`,
);
logFile.end();
