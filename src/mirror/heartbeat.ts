import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import { accountInactive } from "./mitra-status.js";

const SCRIPT = "heartbeatGuardSet";

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

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
  private pending = new Map<string, Waiter[]>();
  private scheduled = false;

  constructor(private readonly d: HeartbeatDeps) {
    if (d.valkey) defineScript(d.valkey, SCRIPT, new URL("./lua/heartbeat-guard-set-n.lua", import.meta.url));
  }

  recordHeartbeat(mitraId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const list = this.pending.get(mitraId);
      if (list) list.push({ resolve, reject });
      else this.pending.set(mitraId, [{ resolve, reject }]);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    const ids = [...batch.keys()];
    const nowIso = this.d.now().toISOString();
    let accepted: boolean[];
    try {
      accepted = await this.viaValkey(ids, nowIso);
    } catch {
      try {
        accepted = await this.viaPostgres(ids, nowIso);
      } catch (pgErr) {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(pgErr as Error);
        return;
      }
      if (this.d.valkey) this.d.metrics.valkeyFallbacks.inc({ operation: "heartbeat" }, ids.length);
    }
    ids.forEach((id, i) => {
      const ok = accepted[i];
      if (ok) this.d.metrics.heartbeats.inc(batch.get(id)?.length ?? 0);
      for (const w of batch.get(id) ?? []) ok ? w.resolve() : w.reject(accountInactive());
    });
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
