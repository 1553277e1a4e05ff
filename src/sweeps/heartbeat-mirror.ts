import type { Pool, PoolClient } from "../db/pool.js";
import { onlineHeartbeats } from "../mirror/online-heartbeats.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { SweepOutcome } from "./auto-offline.js";
import { SWEEP_IDS, withSweepLock } from "./sweep-lock.js";

/**
 * Copies heartbeats from Valkey into `mitras.last_heartbeat_at` (contract §3),
 * so the Postgres fallback answers "as of the last mirror". One statement per
 * slice of the online set read: UPDATE … FROM UNNEST of its heartbeats. It only moves
 * a heartbeat forward, so two processes running it at once (or a replay)
 * change nothing twice. A mitra row is never created here, hence UPDATE
 * rather than INSERT … ON CONFLICT (mitras have required columns).
 */
export class HeartbeatMirror {
  constructor(private readonly d: { pool: Pool; valkey: ValkeyClient | null; keys: Keys }) {}

  async run(): Promise<SweepOutcome> {
    const v = this.d.valkey;
    if (!v) return { outcome: "skipped" }; // Postgres-only mode: heartbeats are already in Postgres
    const r = await withSweepLock(this.d.pool, SWEEP_IDS.heartbeatMirror, (tx) => this.sweep(tx, v));
    return r.ran ? { outcome: "done", changed: r.result } : { outcome: "skipped" };
  }

  private async sweep(tx: PoolClient, v: ValkeyClient): Promise<number> {
    let changed = 0;
    // One statement per slice read (all in the sweep's transaction): the arrays of a whole
    // set's ids and times were built and serialised in one go too.
    for await (const { ids: online, hbs } of onlineHeartbeats(v, this.d.keys)) {
      const ids: string[] = [];
      const times: string[] = [];
      online.forEach((id, i) => {
        const hb = hbs[i];
        if (hb) {
          ids.push(id);
          times.push(hb);
        }
      });
      if (ids.length === 0) continue;
      const { rowCount } = await tx.query(
        `UPDATE mitras m SET last_heartbeat_at = v.hb
         FROM UNNEST($1::uuid[], $2::timestamptz[]) AS v(id, hb)
         WHERE m.id = v.id AND (m.last_heartbeat_at IS NULL OR m.last_heartbeat_at < v.hb)`,
        [ids, times],
      );
      changed += rowCount ?? 0;
    }
    return changed;
  }
}
