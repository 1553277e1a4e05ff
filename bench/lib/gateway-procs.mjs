import { openFilesLimit, startChild } from "./child-service.mjs";
import { processCpuUs } from "./proc-stat.mjs";

/**
 * Starts `n` gateway processes (`node <mainJs>`) against one database and one
 * Valkey key prefix, as the other benches start one: NODE_ENV=test, ports 0
 * on 127.0.0.1, the given env on top. `fdLimit` raises each one's open-files
 * limit; `track(svc)` registers each child for the bench's cleanup (stopped
 * by its pid). Resolves once every one printed its "listening" line.
 * `nodeArgs` go before `mainJs` (e.g. a preload); `onLine(json, k)` gets
 * every later JSON line a gateway prints.
 */
/**
 * Node flags the service runs with in production (`npm start`, the Dockerfile): benches measure
 * that process. A 64 MiB young generation: docs/deploy.md, Runtime flags.
 */
export const SERVICE_NODE_ARGS = ["--max-semi-space-size=64"];

export async function startGateways(
  n,
  { mainJs, env, fdLimit, track, needFds = 0, nodeArgs = [], onLine = () => {} },
) {
  const started = Array.from({ length: n }, (_, k) =>
    track(
      startChild({
        name: `gateway ${k}`,
        args: [...SERVICE_NODE_ARGS, ...nodeArgs, mainJs],
        fdLimit,
        env: {
          NODE_ENV: "test",
          LOG_LEVEL: "info", // the "listening" line (with both ports) is an info line
          PUBLIC_HOST: "127.0.0.1",
          PUBLIC_PORT: "0",
          INTERNAL_HOST: "127.0.0.1",
          INTERNAL_PORT: "0",
          ...env,
        },
        isReady: (j) => j.msg === "listening",
        onLine: (j) => onLine(j, k),
        timeoutMs: 120_000,
      }),
    ),
  );
  const lines = await Promise.all(started.map((svc) => svc.ready));
  return started.map((svc, k) => {
    const pid = svc.child.pid;
    const limit = openFilesLimit(pid);
    if (limit < needFds)
      throw new Error(
        `gateway ${k} runs with an open-files limit of ${limit}, below the ${needFds} it needs`,
      );
    return {
      k,
      svc,
      pid,
      wsUrl: `ws://127.0.0.1:${lines[k].publicPort}/ws`,
      publicUrl: `http://127.0.0.1:${lines[k].publicPort}`,
      internalUrl: `http://127.0.0.1:${lines[k].internalPort}`,
      cpuUs: () => processCpuUs(pid),
    };
  });
}

/** The samples of metric `name` in a /metrics text whose labels contain `labels` (a substring), summed. */
export function metricSum(text, name, labels = "") {
  let sum = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? ([^\\s]+)`, "gm")))
    if ((m[1] ?? "").includes(labels)) sum += Number(m[2]);
  return sum;
}

export async function metricsText(internalUrl) {
  const res = await fetch(`${internalUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}
