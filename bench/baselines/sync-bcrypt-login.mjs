/**
 * Baseline for the login window: the naive server the issue warns about. A
 * bare uWebSockets.js app whose POST /login runs bcrypt.compareSync (cost 12,
 * ~230 ms of CPU here) on the event loop. Its event-loop delay is measured
 * the way prom-client measures the gateway's: perf_hooks
 * monitorEventLoopDelay at 10 ms resolution (prom-client's default), so both
 * figures carry the same ~10 ms floor.
 *
 * While a compareSync runs nothing else on the loop does, so figures are
 * pushed rather than polled: after every login it writes one JSON line
 * {t, n, p99Ms, maxMs, cpuUs} to stdout (synchronous for pipes on Linux).
 * GET /stats answers the same figures and resets the histogram; SIGINT or
 * SIGTERM prints them and exits.
 *
 *   node bench/baselines/sync-bcrypt-login.mjs   (PORT, default 0 = a free port)
 */

import uWS from "uWebSockets.js";
import { monitorEventLoopDelay } from "node:perf_hooks";
import bcrypt from "bcrypt";

const PASSWORD = process.env.BASELINE_PASSWORD ?? "Bench-Admin-2026";
const HASH = bcrypt.hashSync(PASSWORD, 12);

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let handled = 0;

function figures() {
  const cpu = process.cpuUsage();
  return {
    t: Date.now(),
    n: handled,
    p99Ms: loop.percentile(99) / 1e6,
    maxMs: loop.max / 1e6,
    cpuUs: cpu.user + cpu.system,
  };
}

function readJson(res, cb) {
  let chunks = [];
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (!isLast) return;
    const raw = Buffer.concat(chunks).toString();
    chunks = [];
    try {
      cb(raw ? JSON.parse(raw) : {});
    } catch {
      cb(null);
    }
  });
}

const app = uWS
  .App()
  .post("/login", (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    readJson(res, (body) => {
      const ok = typeof body?.password === "string" && bcrypt.compareSync(body.password, HASH);
      handled++;
      process.stdout.write(`${JSON.stringify(figures())}\n`);
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(ok ? "200 OK" : "401 Unauthorized");
        res.writeHeader("content-type", "application/json");
        res.end(JSON.stringify({ ok }));
      });
    });
  })
  .get("/stats", (res) => {
    const f = figures();
    loop.reset();
    res.writeHeader("content-type", "application/json").end(JSON.stringify(f));
  });

app.listen("127.0.0.1", Number(process.env.PORT ?? 0), (token) => {
  if (!token) {
    process.stderr.write("cannot listen\n");
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ listening: true, port: uWS.us_socket_local_port(token) })}\n`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    process.stdout.write(`${JSON.stringify({ exit: true, ...figures() })}\n`);
    process.exit(0);
  });
}
