import type { Clock } from "../clock.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { Availability } from "./availability.js";

export interface BeaconSnapshot {
  available: number;
  asOf: string;
}

const SNAPSHOT_TTL_SECONDS = 10;
const LOCK_MS = 3000;
/** How long a process that lost the recompute race waits for the winner's snapshot. */
const WAIT_FOR_PEER_MS = 500;
/** Without Valkey, each process reuses its own computation this long (well within the 10 s age limit). */
const LOCAL_CACHE_MS = 2000;

/**
 * The public availability beacon (contract §3): `{available, asOf}`, at most
 * 10 s old, shared by every process through `availability:snapshot`. When it
 * is missing, one process at a time recomputes it (SET NX lock); the others
 * wait for its result instead of stampeding Postgres. Without Valkey each
 * process computes it at most once per 2 s, one computation at a time.
 */
export class Beacon {
  private local: { at: number; snap: BeaconSnapshot } | undefined;
  private computing: Promise<BeaconSnapshot> | undefined;

  constructor(
    private readonly valkey: ValkeyClient | null,
    private readonly keys: Keys,
    private readonly availability: Availability,
    private readonly now: Clock,
  ) {}

  async current(): Promise<BeaconSnapshot> {
    if (this.valkey) {
      try {
        return await this.shared(this.valkey);
      } catch {
        // Valkey down: fall through to this process's own (rate-limited) computation.
      }
    }
    return this.localSnapshot();
  }

  private async shared(v: ValkeyClient): Promise<BeaconSnapshot> {
    const raw = await v.get(this.keys.availabilitySnapshot);
    if (raw) return JSON.parse(raw) as BeaconSnapshot;
    const won = await v.set(this.keys.availabilitySnapshotLock, "1", "PX", LOCK_MS, "NX");
    if (won) {
      try {
        const snap = await this.compute();
        await v.set(this.keys.availabilitySnapshot, JSON.stringify(snap), "EX", SNAPSHOT_TTL_SECONDS);
        return snap;
      } finally {
        await v.del(this.keys.availabilitySnapshotLock).catch(() => {});
      }
    }
    const deadline = Date.now() + WAIT_FOR_PEER_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      const again = await v.get(this.keys.availabilitySnapshot);
      if (again) return JSON.parse(again) as BeaconSnapshot;
    }
    return this.localSnapshot();
  }

  private localSnapshot(): Promise<BeaconSnapshot> {
    if (this.local && Date.now() - this.local.at < LOCAL_CACHE_MS) return Promise.resolve(this.local.snap);
    this.computing ??= this.compute()
      .then((snap) => {
        this.local = { at: Date.now(), snap };
        return snap;
      })
      .finally(() => {
        this.computing = undefined;
      });
    return this.computing;
  }

  private async compute(): Promise<BeaconSnapshot> {
    const asOf = this.now().toISOString();
    return { available: await this.availability.countAvailable(), asOf };
  }
}
