import type { Pool } from "../db/pool.js";
import { DEFAULT_TUNABLES, type Tunables, tunablesSchema } from "./tunables.js";

/** How long a process may serve a tunable before re-reading it: a change applies everywhere within 5 s. */
const CACHE_MS = 2000;

/** Reads `app_config` through a short cache. */
export class AppConfigStore {
  private cached: { at: number; value: Tunables } | undefined;
  private loading: Promise<Tunables> | undefined;

  constructor(private readonly pool: Pool) {}

  async get(): Promise<Tunables> {
    const now = Date.now();
    if (this.cached && now - this.cached.at < CACHE_MS) return this.cached.value;
    this.loading ??= this.load().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  /** Drops the cache (after a write, or when another process says it changed). */
  invalidate(): void {
    this.cached = undefined;
  }

  private async load(): Promise<Tunables> {
    const { rows } = await this.pool.query<{ key: string; value: unknown }>(
      "SELECT key, value FROM app_config",
    );
    const merged: Record<string, unknown> = { ...DEFAULT_TUNABLES };
    for (const r of rows) if (r.key in DEFAULT_TUNABLES) merged[r.key] = r.value;
    // A hand-edited bad row must not take the service down: fall back to the default for that key.
    const parsed = tunablesSchema.safeParse(merged);
    const value = parsed.success ? parsed.data : repair(merged);
    this.cached = { at: Date.now(), value };
    return value;
  }
}

function repair(merged: Record<string, unknown>): Tunables {
  const out: Record<string, unknown> = {};
  for (const [k, def] of Object.entries(DEFAULT_TUNABLES)) {
    const field = tunablesSchema.shape[k as keyof Tunables];
    out[k] = field.safeParse(merged[k]).success ? merged[k] : def;
  }
  return out as Tunables;
}
