import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";

const SET_ONLINE = "setOnlineUnlessDeactivated";

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
  ) {}

  setOnline(mitraId: string, heartbeatIso: string): Promise<void> {
    return this.run("online", (v) =>
      v
        .multi()
        .sadd(this.keys.mitrasOnline, mitraId)
        .set(this.keys.mitraHeartbeat(mitraId), heartbeatIso)
        .exec(),
    );
  }

  setOffline(mitraId: string): Promise<void> {
    return this.run("offline", (v) =>
      v.multi().srem(this.keys.mitrasOnline, mitraId).del(this.keys.mitraHeartbeat(mitraId)).exec(),
    );
  }

  setActive(mitraId: string, active: boolean): Promise<void> {
    return this.run("active", (v) => {
      const m = v.multi();
      if (active) m.srem(this.keys.mitrasDeactivated, mitraId);
      // A deactivated mitra is offline too.
      else m.sadd(this.keys.mitrasDeactivated, mitraId).srem(this.keys.mitrasOnline, mitraId);
      return m.exec();
    });
  }

  setMax(mitraId: string, max: number): Promise<void> {
    return this.run("max", (v) => v.set(this.keys.mitraMax(mitraId), String(max)));
  }

  setCapacities(entries: readonly { mitraId: string; capacity: number }[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.run("capacity", (v) =>
      v.mset(entries.flatMap((e) => [this.keys.mitraCapacity(e.mitraId), String(e.capacity)])),
    );
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
    }
  }
}
