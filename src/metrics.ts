import { readdir } from "node:fs/promises";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { CLIENT_FRAME_TYPES } from "./protocol/index.js";

/**
 * A counter by `type` kept in plain numbers and handed to prom-client at
 * scrape time: counting a frame costs a Map update, where prom-client's
 * `inc({type})` hashes and validates a labels object every time (it runs for
 * every frame in and out). With `known`, any other type counts as `other`, so
 * clients cannot grow the label set.
 */
export class CountsByType {
  private readonly counts = new Map<string, number>();

  constructor(
    registry: Registry,
    name: string,
    help: string,
    private readonly only?: { known: readonly string[]; other: string },
  ) {
    const counts = this.counts;
    new Counter({
      name,
      help,
      labelNames: ["type"] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [type, n] of counts) this.inc({ type }, n);
      },
    });
    if (only) for (const t of only.known) counts.set(t, 0);
  }

  inc(type: string, n = 1): void {
    const current = this.counts.get(type);
    if (current !== undefined) this.counts.set(type, current + n);
    else if (this.only) this.counts.set(this.only.other, (this.counts.get(this.only.other) ?? 0) + n);
    else this.counts.set(type, n);
  }
}

/**
 * One Registry per gateway instance: prom-client's default registry refuses a
 * second gateway in one process (tests start several).
 */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client's process_open_fds lists /proc/self/fd synchronously on every scrape: at 10,000
  // sockets that stalled the event loop 15–18 ms. The same gauge, counted off the loop, every 10 s.
  registry.removeSingleMetric("process_open_fds");
  const openFds = new Gauge({
    name: "process_open_fds",
    help: "Number of open file descriptors (counted every 10 s).",
    registers: [registry],
  });
  const countFds = (): void =>
    void readdir("/proc/self/fd").then(
      (fds) => openFds.set(fds.length),
      () => {}, // not Linux: the gauge stays unset
    );
  countFds();
  setInterval(countFds, 10_000).unref();
  return {
    registry,
    httpRequests: new Counter({
      name: "halo_http_requests_total",
      help: "HTTP requests answered, by method and status",
      labelNames: ["method", "status"] as const,
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: "halo_http_request_duration_seconds",
      help: "HTTP request duration",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [registry],
    }),
    valkeyUp: new Gauge({
      name: "halo_valkey_up",
      help: "1 while Valkey answers, 0 otherwise",
      registers: [registry],
    }),
    valkeyFallbacks: new Counter({
      name: "halo_valkey_fallbacks_total",
      help: "Reads and writes answered from Postgres because Valkey failed",
      labelNames: ["operation"] as const,
      registers: [registry],
    }),
    sockets: new Gauge({
      name: "halo_ws_sockets",
      help: "Open WebSockets by user type",
      labelNames: ["user_type"] as const,
      registers: [registry],
    }),
    wsFramesIn: new CountsByType(
      registry,
      "halo_ws_frames_in_total",
      "Client frames received, by type (invalid JSON as bad, a type we do not know as unknown)",
      { known: [...CLIENT_FRAME_TYPES, "bad", "untyped"], other: "unknown" },
    ),
    wsFramesOut: new CountsByType(registry, "halo_ws_frames_out_total", "Frames sent to sockets, by type"),
    wsRateLimited: new Counter({
      name: "halo_ws_rate_limited_total",
      help: "Client frames refused by the per-socket rate limit",
      registers: [registry],
    }),
    wsBackpressure: new Counter({
      name: "halo_ws_backpressure_total",
      help: "Slow-reader events: latest-only frames replaced, sockets closed with 4009",
      labelNames: ["action"] as const,
      registers: [registry],
    }),
    pairingSteps: new Histogram({
      name: "halo_pairing_step_seconds",
      help: "Pairing steps handled by this process: request to offers sent, accept to match",
      labelNames: ["step"] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    verificationProviderCalls: new Counter({
      name: "halo_verification_provider_calls_total",
      help: "Calls to the identity-verification provider, by call",
      labelNames: ["call"] as const,
      registers: [registry],
    }),
    fanoutLatency: new Histogram({
      name: "halo_fanout_latency_seconds",
      help: "From publishing an event to handing it to this process's sockets",
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers: [registry],
    }),
    heartbeats: new Counter({
      name: "halo_heartbeats_total",
      help: "Mitra heartbeats accepted",
      registers: [registry],
    }),
    sweepRuns: new Counter({
      name: "halo_sweep_runs_total",
      help: "Sweep runs by sweep and outcome (done, skipped, aborted, failed)",
      labelNames: ["sweep", "outcome"] as const,
      registers: [registry],
    }),
    sweepDuration: new Histogram({
      name: "halo_sweep_duration_seconds",
      help: "Sweep duration",
      labelNames: ["sweep"] as const,
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10],
      registers: [registry],
    }),
    pairingLatency: new Histogram({
      name: "halo_pairing_latency_seconds",
      help: "Time from pairing.request to match or failure",
      buckets: [0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    // Push delivery (contract §11, src/push/push-queue.ts).
    pushSent: new Counter({
      name: "halo_push_sent_total",
      help: "Pushes the provider accepted",
      registers: [registry],
    }),
    pushFailed: new Counter({
      name: "halo_push_failed_total",
      help: "Pushes given up: unregistered token (deleted), rejected by the provider, retries exhausted",
      labelNames: ["reason"] as const,
      registers: [registry],
    }),
    pushRetried: new Counter({
      name: "halo_push_retried_total",
      help: "Push attempts tried again after a 429, a 5xx or a network error",
      registers: [registry],
    }),
    pushDropped: new Counter({
      name: "halo_push_dropped_total",
      help: "Pushes dropped unsent: the oldest when the queue was full, or left at shutdown",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
