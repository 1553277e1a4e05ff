/**
 * The heartbeat write-behind's Valkey call, alone: one Lua call for a window
 * of BENCH_WB_IDS (1,000) mitras, BENCH_WB_CALLS (300) calls a round,
 * BENCH_RUNS (3) rounds, the gateway's script against the baseline measured
 * in the same run (baselines/heartbeat-guard-keys-and-ids.lua: the script as
 * it was before 2 Dec 2026, every id sent twice, an answer per mitra).
 * Prints per call: this process's CPU (building and writing the command,
 * reading the answer), Valkey's CPU (INFO cpu) and the wall time.
 *
 *   npm run build && node bench/write-behind-bench.mjs
 *
 * Valkey/Redis at BENCH_VALKEY_URL (redis://127.0.0.1:6379); its own key
 * prefix, removed at the end.
 */
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import Redis from "ioredis";
import { createKeys } from "../dist/valkey/keys.js";
import { writeResults } from "./lib/results-file.mjs";
import { deleteValkeyKeys } from "./lib/scratch-stores.mjs";
import { fmt, median } from "./lib/stats.mjs";

const env = process.env;
const num = (v, d) => (v && Number(v) > 0 ? Number(v) : d);
const IDS = num(env.BENCH_WB_IDS, 1000);
const CALLS = num(env.BENCH_WB_CALLS, 300);
const RUNS = num(env.BENCH_RUNS, 3);

const valkeyUrl = env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";
const valkey = new Redis(valkeyUrl);
const prefix = `bench:wb:${process.pid}:`;
const keys = createKeys({ prefix, cluster: false });
const script = (url) => readFileSync(new URL(url, import.meta.url), "utf8");
valkey.defineCommand("gatewayScript", { lua: script("../dist/mirror/lua/heartbeat-guard-set-n.lua") });
valkey.defineCommand("baselineScript", { lua: script("./baselines/heartbeat-guard-keys-and-ids.lua") });

const ids = Array.from({ length: IDS }, () => randomUUID());
// One deactivated mitra, so both scripts refuse one and answer it.
await valkey.sadd(keys.mitrasDeactivated, ids[IDS >> 1]);
const idFrom = Buffer.byteLength(keys.mitraHeartbeat(""), "utf8");

/** The call as each side makes it (the gateway's: src/mirror/heartbeat.ts, viaValkey). */
const calls = {
  gateway: (now) =>
    valkey.gatewayScript(
      IDS + 1,
      keys.mitrasDeactivated,
      ...ids.map((id) => keys.mitraHeartbeat(id)),
      now,
      idFrom,
    ),
  baseline: (now) =>
    valkey.baselineScript(
      IDS + 1,
      keys.mitrasDeactivated,
      ...ids.map((id) => keys.mitraHeartbeat(id)),
      now,
      ...ids,
    ),
};

async function valkeyCpuMs() {
  const info = await valkey.info("cpu");
  const read = (k) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return (read("used_cpu_user") + read("used_cpu_sys")) * 1000;
}

async function round(side, n) {
  const v0 = await valkeyCpuMs();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let refused = 0;
  for (let i = 0; i < n; i++) {
    const answer = await calls[side](new Date().toISOString());
    refused = side === "gateway" ? answer.length : answer.filter((x) => x === 0).length;
  }
  const wall = (performance.now() - t0) / n;
  const c = process.cpuUsage(c0);
  const valkeyMs = ((await valkeyCpuMs()) - v0) / n;
  if (refused !== 1) throw new Error(`${side}: ${refused} refused, expected 1`);
  return { clientMs: (c.user + c.system) / 1000 / n, valkeyMs, wallMs: wall };
}

try {
  for (const side of ["gateway", "baseline"]) await round(side, 30); // warm-up: scripts loaded, JIT warm
  const rows = [];
  console.log(`write-behind call: ${IDS} mitras a call, ${CALLS} calls a round, ${RUNS} rounds each way`);
  console.log("  run  side       client ms/call  valkey ms/call  wall ms/call");
  for (let r = 1; r <= RUNS; r++)
    for (const side of ["gateway", "baseline"]) {
      const x = await round(side, CALLS);
      rows.push({ run: r, side, ...x });
      console.log(
        `  ${String(r).padStart(3)}  ${side.padEnd(9)}  ${fmt(x.clientMs, 3).padStart(14)}  ${fmt(x.valkeyMs, 3).padStart(14)}  ${fmt(x.wallMs, 3).padStart(12)}`,
      );
    }
  const medianOf = (side, k) => median(rows.filter((x) => x.side === side).map((x) => x[k]));
  const ratios = Object.fromEntries(
    ["clientMs", "valkeyMs", "wallMs"].map((k) => [k, medianOf("gateway", k) / medianOf("baseline", k)]),
  );
  console.log(
    `gateway/baseline (medians): client CPU ${fmt(ratios.clientMs, 2)}×, Valkey CPU ${fmt(ratios.valkeyMs, 2)}×, wall ${fmt(ratios.wallMs, 2)}×`,
  );
  console.log(
    `(results: ${writeResults("write-behind", { ids: IDS, calls: CALLS, runs: RUNS, rows, ratios })})`,
  );
} finally {
  valkey.disconnect();
  await deleteValkeyKeys(valkeyUrl, prefix);
}
