import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import type { MirrorSeed } from "./mirror-seed.js";

const APPLY_STATUS = "applyMitraStatuses";
const SYNC_AVAILABLE = "syncAvailableMitras";
/** Mitras per script call: bounded so one call never blocks Valkey for long. */
const STATUS_CHUNK = 1000;

/** One mitra's presence as Postgres has it, with the version that orders it. */
export interface PresenceState {
  mitraId: string;
  version: string;
  online: boolean;
  active: boolean;
  /** Set when going online: going online records a heartbeat. */
  heartbeatIso?: string;
}

/**
 * Best-effort writes of the availability mirror, after Postgres committed
 * (contract §3). A failure is logged and counted; the reseed sweep heals it.
 * Owns the availability key family in Valkey.
 */
export class MitraMirror {
  constructor(
    private readonly valkey: ValkeyClient | null,
    private readonly keys: Keys,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    /** Told of every failed write, so the mirror is repaired as soon as Valkey takes writes again. */
    private readonly seed?: MirrorSeed,
  ) {
    if (valkey) {
      defineScript(valkey, APPLY_STATUS, new URL("./lua/apply-status-n.lua", import.meta.url));
      defineScript(valkey, SYNC_AVAILABLE, new URL("./lua/sync-available-n.lua", import.meta.url));
    }
  }

  /**
   * Mirrors presence states read from (or just committed to) Postgres. Each
   * carries its `status_version`; Valkey refuses one older than what it holds,
   * so writes that land out of order never undo a newer state.
   */
  applyStatuses(states: readonly PresenceState[]): Promise<void> {
    if (states.length === 0) return Promise.resolve();
    const k = this.keys;
    return this.run("status", async (v) => {
      // One script call per chunk, not per mitra: the auto-offline sweep stamps thousands at once.
      for (const chunk of chunksOf(states)) {
        await runScript(
          v,
          APPLY_STATUS,
          [
            k.mitrasOnline,
            k.mitrasDeactivated,
            ...chunk.flatMap((st) => [k.mitraStatusVersion(st.mitraId), k.mitraHeartbeat(st.mitraId)]),
          ],
          chunk.flatMap((st) => [
            st.mitraId,
            st.version,
            st.online ? 1 : 0,
            st.active ? 1 : 0,
            st.heartbeatIso ?? "",
          ]),
        );
        await this.syncAvailableIn(
          v,
          chunk.map((st) => st.mitraId),
        );
      }
    });
  }

  setMax(mitraId: string, max: number): Promise<void> {
    return this.run("max", async (v) => {
      await v.set(this.keys.mitraMax(mitraId), String(max));
      await this.syncAvailableIn(v, [mitraId]);
    });
  }

  setCapacities(entries: readonly { mitraId: string; capacity: number }[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.run("capacity", async (v) => {
      await v.mset(entries.flatMap((e) => [this.keys.mitraCapacity(e.mitraId), String(e.capacity)]));
      await this.syncAvailableIn(
        v,
        entries.map((e) => e.mitraId),
      );
    });
  }

  /**
   * Recomputes these mitras' membership of the available set (or of `target`,
   * a scratch set the reseed swaps in) from the mirrored keys. Every write
   * above ends with it, so the set pairing picks from follows presence,
   * capacity and max without a scan; it is derived, and the reseed rebuilds it.
   */
  async syncAvailableIn(v: ValkeyClient, mitraIds: readonly string[], target?: string): Promise<void> {
    const k = this.keys;
    for (const chunk of chunksOf(mitraIds)) {
      await runScript(
        v,
        SYNC_AVAILABLE,
        [
          k.mitrasOnline,
          k.mitrasDeactivated,
          target ?? k.mitrasAvailable,
          k.mitrasLastOffered,
          ...chunk.flatMap((id) => [k.mitraCapacity(id), k.mitraMax(id)]),
        ],
        chunk,
      );
    }
  }

  private async run(operation: string, fn: (v: ValkeyClient) => Promise<unknown>): Promise<void> {
    if (!this.valkey) return;
    try {
      await fn(this.valkey);
    } catch (err) {
      this.metrics.valkeyFallbacks.inc({ operation: `mirror_${operation}` });
      this.log.warn(
        { err: (err as Error).message, operation },
        "valkey mirror write failed; the reseed will heal it",
      );
      this.seed?.damaged();
    }
  }
}

/** Slices of at most STATUS_CHUNK: one script call each, so no call blocks Valkey for long. */
/**
 * A member's score in the available set: least loaded first, then longest
 * since its last offer (1e13 ms is ~300 years, so the two never mix). The
 * same formula as `lua/sync-available-n.lua`, which the write paths use.
 */
export const availableScore = (capacity: number, lastOfferedMs: number): number =>
  capacity * 1e13 + lastOfferedMs;

function* chunksOf<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += STATUS_CHUNK) yield items.slice(i, i + STATUS_CHUNK);
}
