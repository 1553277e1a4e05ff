import type { Clock } from "../clock.js";
import type { Pool, PoolClient } from "../db/pool.js";
import type { MitraMirror, PresenceState } from "../mirror/mitra-mirror.js";
import { logStatuses, type PresenceColumns, presence } from "../mirror/mitra-status.js";
import { onlineHeartbeats } from "../mirror/online-heartbeats.js";
import type { PresenceEvents } from "../mirror/presence-events.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import { SWEEP_IDS, withSweepLock } from "./sweep-lock.js";

const SCRIPT = "removeStaleOnline";
/** Keys per Lua call: bounded so one call never blocks Valkey for long. */
const CHUNK = 1000;

export interface AutoOfflineDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  keys: Keys;
  now: Clock;
  staleSeconds: number;
  mirror: MitraMirror;
  events: PresenceEvents;
}

export type SweepOutcome = { outcome: "done"; changed: number } | { outcome: "skipped" };

/**
 * Turns stale mitras offline in Valkey and Postgres (contract §3).
 *
 * Staleness is read from Valkey, where heartbeats live. Any Valkey error
 * aborts the whole sweep (it throws): Postgres holds heartbeats only as fresh
 * as the last mirror, so a Postgres scan would take live mitras offline en
 * masse. The Valkey step re-checks each heartbeat atomically, so a mitra that
 * pinged after the read stays online. In Postgres-only mode heartbeats are
 * written to Postgres, and the sweep reads them there.
 */
export class AutoOffline {
  constructor(private readonly d: AutoOfflineDeps) {
    if (d.valkey) defineScript(d.valkey, SCRIPT, new URL("./lua/remove-stale-online-n.lua", import.meta.url));
  }

  async run(): Promise<SweepOutcome> {
    const r = await withSweepLock(this.d.pool, SWEEP_IDS.autoOffline, (tx) => this.sweep(tx));
    if (!r.ran) return { outcome: "skipped" };
    // After COMMIT: stamp the new versions in Valkey, so a late, older go-online write cannot undo them.
    await this.d.mirror.applyStatuses(r.result);
    await this.d.events.unavailable(r.result.map((st) => st.mitraId));
    return { outcome: "done", changed: r.result.length };
  }

  private async sweep(tx: PoolClient): Promise<PresenceState[]> {
    const now = this.d.now();
    const threshold = new Date(now.getTime() - this.d.staleSeconds * 1000);
    const stale = this.d.valkey
      ? await this.removeStaleInValkey(this.d.valkey, threshold)
      : await staleInPostgres(tx, threshold);
    if (stale.length === 0) return [];
    const { rows } = await tx.query<PresenceColumns>(
      `UPDATE mitras SET is_online = false, updated_at = $2, status_version = nextval('mitra_status_version_seq')
       WHERE id = ANY($1::uuid[]) AND is_online RETURNING id, is_online, is_active, status_version`,
      [stale, now],
    );
    await logStatuses(
      tx,
      rows.map((r) => r.id),
      "auto_offline",
      now,
    );
    return rows.map(presence);
  }

  private async removeStaleInValkey(v: ValkeyClient, threshold: Date): Promise<string[]> {
    const { keys } = this.d;
    const cut = threshold.toISOString();
    const candidates: string[] = [];
    for await (const { ids, hbs } of onlineHeartbeats(v, keys))
      ids.forEach((id, i) => {
        const hb = hbs[i];
        if (!hb || hb < cut) candidates.push(id);
      });
    const removed: string[] = [];
    for (let i = 0; i < candidates.length; i += CHUNK) {
      const ids = candidates.slice(i, i + CHUNK);
      const out = (await runScript(
        v,
        SCRIPT,
        [keys.mitrasOnline, ...ids.map((id) => keys.mitraHeartbeat(id))],
        [cut, ...ids],
      )) as string[];
      removed.push(...out);
    }
    return removed;
  }
}

async function staleInPostgres(tx: PoolClient, threshold: Date): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    "SELECT id FROM mitras WHERE is_online AND (last_heartbeat_at IS NULL OR last_heartbeat_at < $1)",
    [threshold],
  );
  return rows.map((r) => r.id);
}
