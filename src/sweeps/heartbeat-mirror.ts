import type { Pool, PoolClient } from "../db/pool.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { SweepOutcome } from "./auto-offline.js";
import { SWEEP_IDS, withSweepLock } from "./sweep-lock.js";

/**
 * Copies heartbeats from Valkey into `mitras.last_heartbeat_at` (contract §3),
 * so the Postgres fallback answers "as of the last mirror". One statement per
 * cycle: UPDATE … FROM UNNEST of every online mitra's heartbeat. It only moves
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
    const { keys } = this.d;
    const online = await v.smembers(keys.mitrasOnline);
    if (online.length === 0) return 0;
    const hbs = await v.mget(online.map((id) => keys.mitraHeartbeat(id)));
    const ids: string[] = [];
    const times: string[] = [];
    online.forEach((id, i) => {
      const hb = hbs[i];
      if (hb) {
        ids.push(id);
        times.push(hb);
      }
    });
    if (ids.length === 0) return 0;
    const { rowCount } = await tx.query(
      `UPDATE mitras m SET last_heartbeat_at = v.hb
       FROM UNNEST($1::uuid[], $2::timestamptz[]) AS v(id, hb)
       WHERE m.id = v.id AND (m.last_heartbeat_at IS NULL OR m.last_heartbeat_at < v.hb)`,
      [ids, times],
    );
    return rowCount ?? 0;
  }
}
