import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { MirrorSeed } from "./mirror-seed.js";
import { ISO_HEARTBEAT, MITRAS_WITH_OPEN_SESSIONS } from "./mitra-rows.js";
import { onlineHeartbeats } from "./online-heartbeats.js";

/** The mitras available as of the heartbeat threshold $1, by the rule above (the `m` and `c` of the selects). */
const AVAILABLE_FROM_WHERE = `FROM ${MITRAS_WITH_OPEN_SESSIONS}
  WHERE m.is_online AND m.is_active AND m.last_heartbeat_at > $1
    AND COALESCE(c.n, 0) < m.max_concurrent_sessions`;

/** One available mitra, with what pairing orders by (least loaded, longest idle). */
export interface AvailableMitra {
  id: string;
  capacity: number;
  max: number;
  heartbeatAt: string;
}

export interface AvailabilityDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  keys: Keys;
  metrics: Metrics;
  now: Clock;
  staleSeconds: number;
  seed: MirrorSeed;
}

/**
 * The read paths of availability (contract §3): Valkey first; on any Valkey
 * error, or a Valkey without a whole mirror (MirrorSeed), the same answer
 * from Postgres, as of the last heartbeat mirror.
 * A mitra is available when online, not deactivated, its heartbeat younger
 * than HEARTBEAT_STALE_SECONDS, and its capacity below its maximum.
 */
export class Availability {
  constructor(private readonly d: AvailabilityDeps) {}

  private threshold(): Date {
    return new Date(this.d.now().getTime() - this.d.staleSeconds * 1000);
  }

  async findAvailableMitras(): Promise<AvailableMitra[]> {
    return this.withFallback(
      "find_available",
      () => this.fromValkey(),
      () => this.fromPostgres(),
    );
  }

  async countAvailable(): Promise<number> {
    return this.withFallback(
      "find_available",
      async () => (await this.fromValkey()).length,
      () => this.countFromPostgres(),
    );
  }

  async isMitraAvailable(mitraId: string): Promise<boolean> {
    return (await this.findAvailableMitras()).some((m) => m.id === mitraId);
  }

  /** online, deactivated and available counts (the dashboard adds session counts). */
  async presenceCounts(): Promise<{ online: number; deactivated: number; available: number }> {
    return this.withFallback(
      "presence_counts",
      async () => {
        const v = this.d.valkey as ValkeyClient;
        const [seeded, online, deactivated] = await Promise.all([
          v.exists(this.d.keys.mirrorSeeded),
          v.scard(this.d.keys.mitrasOnline),
          v.scard(this.d.keys.mitrasDeactivated),
        ]);
        this.d.seed.check(seeded);
        return { online, deactivated, available: (await this.fromValkey()).length };
      },
      async () => {
        const [{ rows }, available] = await Promise.all([
          this.d.pool.query<{ online: number; deactivated: number }>(
            `SELECT count(*) FILTER (WHERE is_online AND is_active)::int AS online,
                    count(*) FILTER (WHERE NOT is_active)::int AS deactivated FROM mitras`,
          ),
          this.countFromPostgres(),
        ]);
        const r = rows[0] as { online: number; deactivated: number };
        return { ...r, available };
      },
    );
  }

  private async withFallback<T>(
    op: string,
    valkey: () => Promise<T>,
    postgres: () => Promise<T>,
  ): Promise<T> {
    if (this.d.valkey) {
      try {
        return await valkey();
      } catch {
        this.d.metrics.valkeyFallbacks.inc({ operation: op });
      }
    }
    return postgres();
  }

  private async fromValkey(): Promise<AvailableMitra[]> {
    const v = this.d.valkey as ValkeyClient;
    const { keys } = this.d;
    this.d.seed.check(await v.exists(keys.mirrorSeeded));
    const threshold = this.threshold().toISOString();
    const out: AvailableMitra[] = [];
    // The online set in SSCAN slices, each with its heartbeats, then one pipeline of the slice's
    // deactivated flags, capacities and maxima: read whole (SDIFF, then MGETs of every key), 100,000
    // online mitras came back as one reply parsed in one go (tens of ms of event loop), every 10 s
    // (the dashboard history) on every process.
    for await (const { ids, hbs } of onlineHeartbeats(v, keys)) {
      const results = await v
        .pipeline()
        .smismember(keys.mitrasDeactivated, ids)
        .mget(ids.map((id) => keys.mitraCapacity(id)))
        .mget(ids.map((id) => keys.mitraMax(id)))
        .exec();
      if (!results) throw new Error("pipeline aborted");
      for (const [err] of results) if (err) throw err;
      const [deactivated, caps, maxes] = results.map(([, r]) => r) as [
        number[],
        (string | null)[],
        (string | null)[],
      ];
      ids.forEach((id, i) => {
        const hb = hbs[i];
        const capacity = Number(caps[i] ?? 0);
        const max = Number(maxes[i] ?? 1);
        if (!deactivated[i] && hb && hb > threshold && capacity < max)
          out.push({ id, capacity, max, heartbeatAt: hb });
      });
    }
    // Again at the end: a Valkey flushed (or failed over) during the scan is not read as "nobody".
    this.d.seed.check(await v.exists(keys.mirrorSeeded));
    return out;
  }

  private async fromPostgres(): Promise<AvailableMitra[]> {
    // The heartbeat formatted by Postgres as the mirror holds it: parsing a Date per row and
    // formatting it again held the event loop ~0.1 s at a time at 100,000 mitras.
    const { rows } = await this.d.pool.query<AvailableMitra>(
      `SELECT m.id, COALESCE(c.n, 0)::int AS capacity, m.max_concurrent_sessions AS max,
              ${ISO_HEARTBEAT} AS "heartbeatAt"
       ${AVAILABLE_FROM_WHERE}`,
      [this.threshold()],
    );
    return rows;
  }

  /** Counted by Postgres: a count (the beacon, the dashboard) needs no row in this process. */
  private async countFromPostgres(): Promise<number> {
    const { rows } = await this.d.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n ${AVAILABLE_FROM_WHERE}`,
      [this.threshold()],
    );
    return rows[0]?.n ?? 0;
  }
}
