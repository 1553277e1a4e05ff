import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { MirrorSeed } from "../mirror/mirror-seed.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";

const PICK = "pickPairingBatch";
/** Members the pick script may look at per call: stale or excluded ones ahead of the batch are skipped, up to this. */
const MAX_SCAN = 2000;

export interface PickerDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  now: Clock;
  staleSeconds: number;
  verificationRequired: boolean;
  seed: MirrorSeed;
}

/**
 * Picks the next batch of available mitras for a pairing request: least
 * loaded first, then longest since their last offer, never one in
 * `excluded`. From Valkey's available set in one Lua call (O(batch)); on a
 * Valkey error the same rule from Postgres, as of the last heartbeat mirror.
 */
export class AvailablePicker {
  constructor(private readonly d: PickerDeps) {
    if (d.valkey) defineScript(d.valkey, PICK, new URL("./lua/pick-batch-3.lua", import.meta.url));
  }

  async pick(size: number, excluded: readonly string[]): Promise<string[]> {
    const now = this.d.now();
    const threshold = new Date(now.getTime() - this.d.staleSeconds * 1000);
    if (this.d.valkey) {
      try {
        return await this.fromValkey(this.d.valkey, size, excluded, now, threshold);
      } catch (err) {
        if ((err as Error).message.startsWith("NOTSEEDED")) this.d.seed.missing();
        this.d.metrics.valkeyFallbacks.inc({ operation: "pairing_pick" });
        this.d.log.warn({ err: (err as Error).message }, "pairing pick from Valkey failed; using Postgres");
      }
    }
    return this.fromPostgres(size, excluded, threshold);
  }

  private async fromValkey(
    v: ValkeyClient,
    size: number,
    excluded: readonly string[],
    now: Date,
    threshold: Date,
  ): Promise<string[]> {
    const k = this.d.keys;
    const picked = await runScript(
      v,
      PICK,
      [k.mitrasAvailable, k.mitrasLastOffered, k.mirrorSeeded],
      [size, now.getTime(), threshold.toISOString(), k.mitraHeartbeat(""), MAX_SCAN, ...excluded],
    );
    return picked as string[];
  }

  private async fromPostgres(size: number, excluded: readonly string[], threshold: Date): Promise<string[]> {
    const { rows } = await this.d.pool.query<{ id: string }>(
      `SELECT m.id
       FROM mitras m
       LEFT JOIN LATERAL (SELECT count(*)::int AS n FROM chat_sessions s
                          WHERE s.mitra_id = m.id AND s.status IN ('active', 'pending_payment')) c ON true
       LEFT JOIN LATERAL (SELECT max(o.offered_at) AS last FROM pairing_offers o WHERE o.mitra_id = m.id) o ON true
       WHERE m.is_online AND m.is_active AND m.last_heartbeat_at > $1
         AND c.n < m.max_concurrent_sessions
         AND (NOT $2::boolean OR m.verified_at IS NOT NULL)
         AND NOT (m.id = ANY($3::uuid[]))
       ORDER BY c.n, o.last NULLS FIRST, m.id
       LIMIT $4`,
      [threshold, this.d.verificationRequired, excluded, size],
    );
    return rows.map((r) => r.id);
  }
}
