import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { TickBatch } from "../tick-batch.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import { accountInactive } from "./mitra-status.js";

const SCRIPT = "heartbeatGuardSet";

export interface HeartbeatDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  health: ValkeyHealth | null;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  now: Clock;
}

/**
 * `recordHeartbeat(mitraId)` — the one heartbeat use case, for HTTP and
 * WebSocket alike (contract §3). Heartbeats arriving in one event-loop tick
 * are gathered and sent as ONE Lua call (the deactivated guard and the SET of
 * each heartbeat): zero Postgres statements while Valkey is up. On a Valkey
 * error the batch goes to Postgres instead: the guard reads `is_active`
 * (a deactivated mitra is never accepted) and `last_heartbeat_at` is written.
 */
export class Heartbeats {
  // 2 ms window: at a steady few thousand heartbeats a second one turn holds ~one heartbeat (bench: ws-bench paced window).
  private readonly batch = new TickBatch<string, boolean>((ids) => this.flush(ids), 2);

  constructor(private readonly d: HeartbeatDeps) {
    if (d.valkey) defineScript(d.valkey, SCRIPT, new URL("./lua/heartbeat-guard-set-n.lua", import.meta.url));
  }

  async recordHeartbeat(mitraId: string): Promise<void> {
    if (!(await this.batch.get(mitraId))) throw accountInactive();
    this.d.metrics.heartbeats.inc();
  }

  private async flush(ids: string[]): Promise<boolean[]> {
    const nowIso = this.d.now().toISOString();
    try {
      return await this.viaValkey(ids, nowIso);
    } catch {
      if (this.d.valkey) this.d.metrics.valkeyFallbacks.inc({ operation: "heartbeat" }, ids.length);
      return this.viaPostgres(ids, nowIso);
    }
  }

  private async viaValkey(ids: string[], nowIso: string): Promise<boolean[]> {
    const { valkey, keys } = this.d;
    if (!valkey) throw new Error("no valkey");
    const result = (await runScript(
      valkey,
      SCRIPT,
      [keys.mitrasDeactivated, ...ids.map((id) => keys.mitraHeartbeat(id))],
      [nowIso, ...ids],
    )) as number[];
    return result.map((r) => r === 1);
  }

  private async viaPostgres(ids: string[], nowIso: string): Promise<boolean[]> {
    const { rows } = await this.d.pool.query<{ id: string }>(
      `UPDATE mitras SET last_heartbeat_at = GREATEST(last_heartbeat_at, $2::timestamptz)
       WHERE id = ANY($1::uuid[]) AND is_active RETURNING id`,
      [ids, nowIso],
    );
    const ok = new Set(rows.map((r) => r.id));
    return ids.map((id) => ok.has(id));
  }
}
