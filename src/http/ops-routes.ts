import type { Pool } from "../db/pool.js";
import type { Metrics } from "../metrics.js";
import { tracePeriodic } from "../periodic-trace.js";
import type { ValkeyState } from "../valkey/client.js";
import { timeoutError, withTimeout } from "../with-timeout.js";
import type { Router } from "./router.js";

export interface OpsDeps {
  pool: Pool;
  metrics: Metrics;
  /** null in Postgres-only mode (no Valkey configured or found). */
  valkeyState: () => ValkeyState | null;
}

/** How long /readyz waits for Postgres before calling it down. */
const PG_PROBE_TIMEOUT_MS = 1500;

/** /healthz, /readyz, /metrics: internal listener only (contract §8). */
export function registerOpsRoutes(router: Router, deps: OpsDeps): void {
  router.get("/healthz", () => ({ status: 200, body: { status: "ok" } }));

  router.get("/readyz", async () => {
    const postgres = (await postgresAnswers(deps.pool)) ? "up" : "down";
    const state = deps.valkeyState();
    const body: Record<string, string> = { postgres, valkey: state ?? "down" };
    if (state === null) body.mode = "postgres-only";
    return { status: postgres === "up" ? 200 : 503, body };
  });

  router.get("/metrics", async () => {
    deps.metrics.valkeyUp.set(deps.valkeyState() === "up" ? 1 : 0);
    return {
      status: 200,
      raw: {
        contentType: deps.metrics.registry.contentType,
        data: await tracePeriodic("metrics", () => deps.metrics.registry.metrics()),
      },
    };
  });
}

async function postgresAnswers(pool: Pool): Promise<boolean> {
  try {
    await withTimeout(pool.query("SELECT 1"), PG_PROBE_TIMEOUT_MS, timeoutError("timeout"));
    return true;
  } catch {
    return false;
  }
}
