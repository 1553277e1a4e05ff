import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { TickBatch } from "../tick-batch.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import type { DeactivatedSet } from "./deactivated-set.js";
import { accountInactive } from "./mitra-status.js";

const SCRIPT = "heartbeatGuardSet";
/**
 * Heartbeats accepted from memory are written this long after the first of
 * them, all in one call: at 5,000/s that is ~250 per call instead of one call
 * per ~2 heartbeats. Losing one window (a crash) costs a mitra 50 ms of
 * freshness against a 90 s stale threshold.
 */
export const WRITE_BEHIND_MS = 50;
/** Mitras per Lua call: one call never blocks Valkey for long. */
const CHUNK = 1000;

export interface HeartbeatDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  health: ValkeyHealth | null;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  now: Clock;
  deactivated: DeactivatedSet;
}

/**
 * `recordHeartbeat(mitraId)` — the one heartbeat use case, for HTTP and
 * WebSocket alike (contract §3). Zero Postgres statements while Valkey is up.
 *
 * - Steady state (Valkey up, the in-memory deactivated set fresh): the guard
 *   reads memory and the heartbeat is answered at once; the heartbeats are
 *   written behind, every WRITE_BEHIND_MS, in one Lua call that still runs
 *   Valkey's guard (the last word: a refusal there is learned by the set).
 * - Otherwise (Valkey just reconnected, or down): the heartbeats of a 2 ms
 *   window go to Valkey's Lua guard in one call and are answered after it;
 *   on a Valkey error the batch goes to Postgres instead: the guard reads
 *   `is_active` (a deactivated mitra is never accepted) and
 *   `last_heartbeat_at` is written.
 */
export class Heartbeats {
  private readonly batch = new TickBatch<string, boolean>((ids) => this.flush(ids), 2);
  /** Accepted from memory and not yet written. */
  private behind = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Where the id starts in a heartbeat key, in bytes (Lua counts bytes; a prefix may not be ASCII). */
  private readonly idFrom: number;

  constructor(private readonly d: HeartbeatDeps) {
    this.idFrom = Buffer.byteLength(d.keys.mitraHeartbeat(""), "utf8");
    if (d.valkey) defineScript(d.valkey, SCRIPT, new URL("./lua/heartbeat-guard-set-n.lua", import.meta.url));
  }

  async recordHeartbeat(mitraId: string): Promise<void> {
    const now = this.acceptNow(mitraId);
    if (now === true) return;
    if (now === false) throw accountInactive();
    // Not fresh right after a reconnect: what the copy knows still refuses (a Valkey back empty has no set yet).
    if (this.d.health?.state === "up" && this.d.deactivated.has(mitraId)) throw accountInactive();
    if (!(await this.batch.get(mitraId))) throw accountInactive();
    this.d.metrics.heartbeats.inc();
  }

  /**
   * The steady state of `recordHeartbeat`, synchronously: true = accepted
   * (written behind), false = refused (deactivated), undefined = memory cannot
   * decide (the in-memory set is not fresh: only `recordHeartbeat` may answer).
   * For the WebSocket's hot path, which then answers without a promise.
   */
  acceptNow(mitraId: string): boolean | undefined {
    const { deactivated } = this.d;
    if (!deactivated.fresh) return undefined;
    if (deactivated.has(mitraId)) return false;
    this.writeBehind(mitraId);
    this.d.metrics.heartbeats.inc();
    return true;
  }

  /** Writes what was accepted from memory now (shutdown: before the heartbeat mirror's last run). */
  flushBehind(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const ids = [...this.behind];
    this.behind = new Set();
    if (ids.length > 0)
      this.writing = this.writing
        .then(() => this.writeAccepted(ids))
        // Never a rejected chain: every later window would be skipped.
        .catch((err: Error) => this.d.log.warn({ err: err.message }, "heartbeats accepted but not written"));
    return this.writing;
  }

  private writeBehind(mitraId: string): void {
    this.behind.add(mitraId);
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flushBehind(), WRITE_BEHIND_MS);
      this.timer.unref();
    }
  }

  /** Heartbeats already answered: written through the same guard; nobody waits for the result. */
  private async writeAccepted(ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += CHUNK) {
      const chunk = ids.slice(i, i + CHUNK);
      const ok = await this.flush(chunk).catch((err: Error) => {
        this.d.log.warn(
          { err: err.message, heartbeats: chunk.length },
          "heartbeats accepted but not written",
        );
        return chunk.map(() => true);
      });
      const refused = chunk.filter((_, k) => !ok[k]);
      if (refused.length > 0) {
        // The copy missed a deactivation (a lost message): the guard kept the write out; refuse from now on.
        this.d.deactivated.learn(refused);
        this.d.log.warn(
          { mitras: refused.length },
          "heartbeats accepted from memory were refused by the guard",
        );
      }
    }
  }

  /** Through Valkey's guard; on a Valkey error, through Postgres's (`is_active`). */
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
    // The ids travel once, inside their keys (the script reads each id off its key, after the keys'
    // common part): a quarter less of this process's CPU per call than keys plus ids, and no more of
    // Valkey's (bench/write-behind-bench.mjs).
    const refused = (await runScript(
      valkey,
      SCRIPT,
      [keys.mitrasDeactivated, ...ids.map((id) => keys.mitraHeartbeat(id))],
      [nowIso, this.idFrom],
    )) as number[];
    const ok = ids.map(() => true);
    for (const position of refused) ok[position - 1] = false;
    return ok;
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
