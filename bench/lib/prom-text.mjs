/**
 * Reads the few prom-client default metrics the bench needs from the
 * gateway's /metrics text. prom-client resets its event-loop histogram on
 * every scrape, so a window is "scrape, load, scrape": the second scrape
 * holds the event-loop figures of exactly that window.
 */

/** Value of an unlabelled sample, or NaN when absent. */
export function sample(text, name) {
  const m = text.match(new RegExp(`^${name}(?:\\{[^}]*\\})? ([^\\s]+)`, "m"));
  return m ? Number(m[1]) : Number.NaN;
}

export async function scrapeGateway(internalUrl) {
  const res = await fetch(`${internalUrl}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  return {
    at: performance.now(),
    cpuUs: sample(text, "process_cpu_seconds_total") * 1e6,
    loopP99Ms: sample(text, "nodejs_eventloop_lag_p99_seconds") * 1e3,
    loopMaxMs: sample(text, "nodejs_eventloop_lag_max_seconds") * 1e3,
  };
}
