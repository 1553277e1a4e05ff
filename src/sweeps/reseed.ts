import { setImmediate } from "node:timers/promises";
import type { Clock } from "../clock.js";
import type { Pool, PoolClient } from "../db/pool.js";
import { availableScore, type MitraMirror } from "../mirror/mitra-mirror.js";
import { type PresenceColumns, presence } from "../mirror/mitra-status.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import type { SweepOutcome } from "./auto-offline.js";
import { SWEEP_IDS, withSweepLock } from "./sweep-lock.js";

const SCRIPT = "setHeartbeatIfNewer";
/** Mitras per write; the loop is yielded between slices (see sendInSlices). */
const CHUNK = 1000;
/** Status changes this recent are applied again after the swap (covers writes that raced the snapshot). */
const RACE_WINDOW_MS = 10_000;

interface Row {
  id: string;
  is_online: boolean;
  is_active: boolean;
  max_concurrent_sessions: number;
  last_heartbeat_at: Date | null;
  capacity: number;
}

/**
 * Rebuilds every mirrored availability key from Postgres (contract §3): at
 * start, on every Valkey (re)connect, and on its cadence.
 *
 * - The two sets are built under scratch names and swapped in with RENAME,
 *   so readers never see a half-built set.
 * - A status change committed while the reseed runs is not lost: after the
 *   swap, mitras changed in the last seconds are re-applied from Postgres.
 * - A heartbeat never moves backwards (Lua: SET only if newer).
 */
export class Reseed {
  constructor(
    private readonly d: {
      pool: Pool;
      valkey: ValkeyClient | null;
      keys: Keys;
      now: Clock;
      mirror: MitraMirror;
    },
  ) {
    if (d.valkey)
      defineScript(d.valkey, SCRIPT, new URL("./lua/set-heartbeat-if-newer-n.lua", import.meta.url));
  }

  async run(): Promise<SweepOutcome> {
    const v = this.d.valkey;
    if (!v) return { outcome: "skipped" };
    const r = await withSweepLock(this.d.pool, SWEEP_IDS.reseed, (tx) => this.sweep(tx, v));
    return r.ran ? { outcome: "done", changed: r.result } : { outcome: "skipped" };
  }

  private async sweep(tx: PoolClient, v: ValkeyClient): Promise<number> {
    const { keys } = this.d;
    const startedAt = this.d.now();
    const { rows } = await tx.query<Row>(
      `SELECT m.id, m.is_online, m.is_active, m.max_concurrent_sessions, m.last_heartbeat_at, COALESCE(c.n, 0)::int AS capacity
       FROM mitras m
       LEFT JOIN (SELECT mitra_id, count(*) AS n FROM chat_sessions
                  WHERE status IN ('active', 'pending_payment') GROUP BY mitra_id) c ON c.mitra_id = m.id`,
    );
    await swapSet(
      v,
      keys.reseedScratch("online"),
      keys.mitrasOnline,
      rows.filter((r) => r.is_online && r.is_active).map((r) => r.id),
    );
    await swapSet(
      v,
      keys.reseedScratch("deactivated"),
      keys.mitrasDeactivated,
      rows.filter((r) => !r.is_active).map((r) => r.id),
    );

    await sendInSlices(rows, (chunk) => {
      const writes: Promise<unknown>[] = [
        v.mset(
          chunk.flatMap((r) => [
            keys.mitraMax(r.id),
            String(r.max_concurrent_sessions),
            keys.mitraCapacity(r.id),
            String(r.capacity),
          ]),
        ),
      ];
      const beats = chunk.filter((r) => r.is_online && r.last_heartbeat_at);
      if (beats.length > 0) {
        writes.push(
          runScript(
            v,
            SCRIPT,
            beats.map((r) => keys.mitraHeartbeat(r.id)),
            beats.map((r) => (r.last_heartbeat_at as Date).toISOString()),
          ),
        );
      }
      return writes;
    });
    await this.rebuildAvailable(v, rows);
    await this.reapplyRecent(tx, startedAt);
    // Last: until now a Valkey that came back empty is read as unseeded, and readers use Postgres.
    await v.set(keys.mirrorSeeded, String(startedAt.getTime()));
    return rows.length;
  }

  /**
   * The available set, built aside from the rows just mirrored (the same rule
   * as `sync-available-n.lua`: online, active, capacity below max, scored by
   * `availableScore`) and swapped in whole. Computed here rather than by the
   * script, which would read back every key just written (1.3 s at 100,000
   * mitras, against ~0.1 s).
   */
  private async rebuildAvailable(v: ValkeyClient, rows: readonly Row[]): Promise<void> {
    const { keys } = this.d;
    const scratch = keys.reseedScratch("available");
    await v.del(scratch);
    const lastOffered = await v.hgetall(keys.mitrasLastOffered);
    const available = rows.filter(
      (r) => r.is_online && r.is_active && r.capacity < r.max_concurrent_sessions,
    );
    await sendInSlices(available, (chunk) => [
      v.zadd(
        scratch,
        ...chunk.flatMap((r) => [availableScore(r.capacity, Number(lastOffered[r.id] ?? 0)), r.id]),
      ),
    ]);
    if (available.length > 0) await v.rename(scratch, keys.mitrasAvailable);
    else await v.del(keys.mitrasAvailable);
  }

  /**
   * Mitras whose status changed around the snapshot get their current state
   * again, through the versioned write: a newer state that a writer already
   * mirrored is kept, one the swap overwrote is restored.
   */
  private async reapplyRecent(tx: PoolClient, startedAt: Date): Promise<void> {
    const { rows } = await tx.query<PresenceColumns>(
      // A fresh statement in READ COMMITTED sees what committed while the reseed ran.
      "SELECT id, is_online, is_active, status_version FROM mitras WHERE updated_at >= $1",
      [new Date(startedAt.getTime() - RACE_WINDOW_MS)],
    );
    await this.d.mirror.applyStatuses(rows.map(presence));
  }
}

async function swapSet(v: ValkeyClient, scratch: string, live: string, members: string[]): Promise<void> {
  await v.del(scratch);
  if (members.length === 0) {
    await v.del(live);
    return;
  }
  await sendInSlices(members, (chunk) => [v.sadd(scratch, chunk)]);
  await v.rename(scratch, live);
}

/**
 * Sends the writes of each CHUNK of `items` without waiting for the ones
 * before (one pipeline: Valkey works through a slice while the next is
 * built), but yields the event loop between slices: built in one go, the
 * writes of every mitra held it for the whole build (stalls of 4–9 ms at
 * 10,000 mitras: docs/performance.md; it grows with the mitras).
 */
async function sendInSlices<T>(items: readonly T[], send: (slice: T[]) => Promise<unknown>[]): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < items.length; i += CHUNK) {
    if (i > 0) await setImmediate();
    for (const w of send(items.slice(i, i + CHUNK))) {
      w.catch(() => {}); // handled by Promise.all below; not "unhandled" while the loop is yielded
      writes.push(w);
    }
  }
  await Promise.all(writes);
}
