import { setImmediate } from "node:timers/promises";
import type { Clock } from "../clock.js";
import type { Pool, PoolClient } from "../db/pool.js";
import { availableScore, type MitraMirror } from "../mirror/mitra-mirror.js";
import { ISO_HEARTBEAT, MITRAS_WITH_OPEN_SESSIONS } from "../mirror/mitra-rows.js";
import { type PresenceColumns, presence } from "../mirror/mitra-status.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import type { SweepOutcome } from "./auto-offline.js";
import { SWEEP_IDS, withSweepLock } from "./sweep-lock.js";

const SCRIPT = "setHeartbeatIfNewer";
/** Mitras per Valkey write; the loop is yielded between slices (see sendInSlices). */
const CHUNK = 1000;
/** Rows per FETCH from the reseed's cursor: Valkey works through one batch while the next is read. */
const FETCH = 10_000;
/** Status changes this recent are applied again after the swap (covers writes that raced the snapshot). */
const RACE_WINDOW_MS = 10_000;

/** One mitra as the reseed reads it; the heartbeat already in the mirror's ISO-8601 form. */
interface Row {
  id: string;
  is_online: boolean;
  is_active: boolean;
  max_concurrent_sessions: number;
  heartbeat_iso: string | null;
  capacity: number;
}

/**
 * Rebuilds every mirrored availability key from Postgres (contract §3): at
 * start, on every Valkey (re)connect, and on its cadence.
 *
 * - The three sets are built under scratch names and swapped in together
 *   (one MULTI of RENAMEs), so readers never see a half-built set.
 * - The rows come through a cursor in batches, and each batch's writes are
 *   sent without waiting for the last: Postgres, this process and Valkey work
 *   at the same time (at 100,000 mitras, reading everything first and writing
 *   after was most of the time to a whole mirror: docs/faults.md).
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
    const scratch = {
      online: keys.reseedScratch("online"),
      deactivated: keys.reseedScratch("deactivated"),
      available: keys.reseedScratch("available"),
    };
    const [lastOffered] = await Promise.all([
      v.hgetall(keys.mitrasLastOffered),
      v.del(scratch.online, scratch.deactivated, scratch.available),
    ]);
    const counts = { online: 0, deactivated: 0, available: 0 };
    // In id order: most available mitras share a score (capacity 0, never offered), so the sorted
    // set orders them by id, and Valkey inserts members that arrive in order at about half the CPU.
    // The heartbeat formatted by Postgres as the mirror stores it (what Date#toISOString gives):
    // parsing 100,000 timestamps into Dates and back was a tenth of the reseed.
    await tx.query(
      `DECLARE reseed_mitras NO SCROLL CURSOR FOR
       SELECT m.id, m.is_online, m.is_active, m.max_concurrent_sessions,
              ${ISO_HEARTBEAT} AS heartbeat_iso, COALESCE(c.n, 0)::int AS capacity
       FROM ${MITRAS_WITH_OPEN_SESSIONS}
       ORDER BY m.id`,
    );
    const writes: Promise<unknown>[] = [];
    let total = 0;
    for (;;) {
      // The next batch is read while Valkey takes the last one; only one batch of writes is in
      // flight, so their arguments die young (all 100,000 mitras' in flight at once cost ~0.4 s of GC).
      const [{ rows }] = await Promise.all([
        tx.query<Row>(`FETCH ${FETCH} FROM reseed_mitras`),
        Promise.all(writes.splice(0)),
      ]);
      if (rows.length === 0) break;
      total += rows.length;
      await sendInSlices(rows, writes, (chunk) => this.writesOf(v, chunk, scratch, lastOffered, counts));
    }
    await tx.query("CLOSE reseed_mitras");
    await Promise.all(writes);

    const swap = v.multi();
    const live = {
      online: keys.mitrasOnline,
      deactivated: keys.mitrasDeactivated,
      available: keys.mitrasAvailable,
    };
    for (const name of ["online", "deactivated", "available"] as const) {
      if (counts[name] > 0) swap.rename(scratch[name], live[name]);
      else swap.del(live[name]);
    }
    // A scratch set gone (Valkey flushed or failed over meanwhile) fails the run; the next one rebuilds.
    for (const [err] of (await swap.exec()) ?? []) if (err) throw err;
    await this.reapplyRecent(tx, startedAt);
    // Last: until now a Valkey that came back empty is read as unseeded, and readers use Postgres.
    await v.set(keys.mirrorSeeded, String(startedAt.getTime()));
    return total;
  }

  /**
   * The writes of one slice of rows: set members under the scratch names,
   * max and capacity, heartbeats (never backwards), and the available set by
   * the same rule as `sync-available-n.lua` (online, active, capacity below
   * max, scored by `availableScore`), computed here rather than by the script,
   * which would read back every key just written.
   */
  private writesOf(
    v: ValkeyClient,
    rows: Row[],
    scratch: Record<"online" | "deactivated" | "available", string>,
    lastOffered: Record<string, string>,
    counts: Record<"online" | "deactivated" | "available", number>,
  ): Promise<unknown>[] {
    const { keys } = this.d;
    const online: string[] = [];
    const deactivated: string[] = [];
    const available: (string | number)[] = [];
    const beatKeys: string[] = [];
    const beats: string[] = [];
    const limits: string[] = [];
    for (const r of rows) {
      limits.push(
        keys.mitraMax(r.id),
        String(r.max_concurrent_sessions),
        keys.mitraCapacity(r.id),
        String(r.capacity),
      );
      if (!r.is_active) deactivated.push(r.id);
      if (!r.is_online) continue;
      if (r.heartbeat_iso) {
        beatKeys.push(keys.mitraHeartbeat(r.id));
        beats.push(r.heartbeat_iso);
      }
      if (!r.is_active) continue;
      online.push(r.id);
      if (r.capacity < r.max_concurrent_sessions)
        available.push(availableScore(r.capacity, Number(lastOffered[r.id] ?? 0)), r.id);
    }
    counts.online += online.length;
    counts.deactivated += deactivated.length;
    counts.available += available.length / 2;
    const out: Promise<unknown>[] = [v.mset(limits)];
    if (online.length > 0) out.push(v.sadd(scratch.online, online));
    if (deactivated.length > 0) out.push(v.sadd(scratch.deactivated, deactivated));
    if (beats.length > 0) out.push(runScript(v, SCRIPT, beatKeys, beats));
    if (available.length > 0) out.push(v.zadd(scratch.available, ...available));
    return out;
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

/**
 * Sends the writes of each CHUNK of `items` without waiting for the ones
 * before (one pipeline: Valkey works through a slice while the next is
 * built), collecting them in `writes`, but yields the event loop between
 * slices: built in one go, the writes of every mitra held it for the whole
 * build (stalls of 4–9 ms at 10,000 mitras: docs/performance.md).
 */
async function sendInSlices<T>(
  items: readonly T[],
  writes: Promise<unknown>[],
  send: (slice: T[]) => Promise<unknown>[],
): Promise<void> {
  for (let i = 0; i < items.length; i += CHUNK) {
    if (i > 0) await setImmediate();
    for (const w of send(items.slice(i, i + CHUNK))) {
      w.catch(() => {}); // awaited by the caller's Promise.all; not "unhandled" while the loop is yielded
      writes.push(w);
    }
  }
}
