import { EventEmitter } from "node:events";
import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { TickBatch } from "../tick-batch.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { BusMessage, PubSub } from "../valkey/pubsub.js";

/** Each process looks for new revocations in Postgres at least this often while Valkey is not usable. */
const PG_POLL_MS = 500;

export interface RevocationDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  health: ValkeyHealth | null;
  pubsub: PubSub;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  now: Clock;
  accessTtlSeconds: number;
  /** Valkey Cluster: revocation keys live in many slots. */
  cluster: boolean;
}

/**
 * Knows which auth sessions are revoked, on every process, at once.
 *
 * - Postgres (`auth_sessions.revoked_at`) is the truth, written first.
 * - Valkey holds `auth:revoked:<sid>` for as long as an access token of that
 *   session can live; every request checks it (one EXISTS).
 * - When Valkey is down, or has just come back and its keys are not rebuilt
 *   yet, the check reads Postgres: a revoked session is never accepted
 *   because a cache is unreachable.
 * - "revoked" events (for closing sockets) come from this process's own
 *   revocations, from pub/sub, and from polling Postgres while Valkey is down.
 *
 * Emits "revoked" with the list of sids.
 */
export class Revocations extends EventEmitter {
  /** sid → epoch ms after which its access tokens are all expired anyway. */
  private readonly known = new Map<string, number>();
  private keysReady = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private lastPollAt: Date;
  private stopped = false;

  constructor(private readonly d: RevocationDeps) {
    super();
    this.lastPollAt = d.now();
  }

  async start(): Promise<void> {
    const onMessage = (msg: BusMessage) => {
      if (msg.kind === "sessions" && Array.isArray(msg.sids)) this.learn(msg.sids.map(String));
    };
    await this.d.pubsub.subscribe(this.d.keys.channel.revocations, onMessage);
    await this.d.pubsub.subscribeLegacy(this.d.keys.channel.legacy.revocations, onMessage);
    this.d.health?.on("down", () => {
      this.keysReady = false;
    });
    this.d.health?.on("up", () => void this.rebuildKeys());
    if (this.d.health?.state === "up") await this.rebuildKeys();
    this.pollTimer = setInterval(() => void this.pollIfNeeded(), PG_POLL_MS);
    this.pollTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.pollTimer) clearInterval(this.pollTimer);
  }

  /**
   * True when the session is revoked (or unknown). The checks of one tick go
   * to Valkey together (one round trip); without usable Valkey keys they go to
   * Postgres together. Throws only when Postgres is needed and down.
   */
  isRevoked(sid: string): Promise<boolean> {
    if (this.known.has(sid)) return Promise.resolve(true);
    return this.batch.get(sid);
  }

  private readonly batch = new TickBatch<string, boolean>(async (sids) => {
    const { valkey, keys } = this.d;
    if (valkey && this.keysReady) {
      try {
        const ks = sids.map((sid) => keys.revokedSession(sid));
        // One MGET; in cluster mode the keys sit in many slots on several nodes, where ioredis
        // refuses a pipeline (and MGET is CROSSSLOT): one GET each, routed to its node.
        if (!this.d.cluster) return (await valkey.mget(ks)).map((v) => v !== null);
        return (await Promise.all(ks.map((k) => valkey.get(k)))).map((v) => v !== null);
      } catch {
        // fall through to Postgres
      }
    }
    this.d.metrics.valkeyFallbacks.inc({ operation: "revocation_check" }, sids.length);
    const { rows } = await this.d.pool.query<{ id: string; revoked: boolean }>(
      "SELECT id, revoked_at IS NOT NULL AS revoked FROM auth_sessions WHERE id = ANY($1::uuid[])",
      [sids],
    );
    const byId = new Map(rows.map((r) => [r.id, r.revoked]));
    return sids.map((sid) => byId.get(sid) ?? true);
  });

  /**
   * Announces sessions already revoked in Postgres (committed): marks them in
   * Valkey, tells every process, and closes this process's sockets.
   */
  async announce(sids: string[]): Promise<void> {
    if (sids.length === 0) return;
    this.learn(sids);
    const { valkey, keys, pubsub } = this.d;
    if (valkey) {
      try {
        const ttl = this.d.accessTtlSeconds + 60;
        await this.markRevoked(
          valkey,
          sids.map((sid) => [keys.revokedSession(sid), ttl]),
        );
      } catch (err) {
        // Other processes see it through their Postgres fallback or the rebuild on reconnect.
        this.d.log.warn({ err: (err as Error).message }, "could not mark revocations in Valkey");
      }
    }
    await pubsub
      .publish(keys.channel.revocations, { v: 1, kind: "sessions", sids })
      .catch((err: Error) => this.d.log.warn({ err: err.message }, "could not publish revocations"));
  }

  /**
   * Sets `auth:revoked:<sid>` keys with their TTLs in one round trip. On a
   * cluster they sit in many slots on several nodes, where MULTI is CROSSSLOT
   * and ioredis refuses a pipeline: one SET each, routed to its node.
   */
  private async markRevoked(valkey: ValkeyClient, marks: [key: string, ttl: number][]): Promise<void> {
    if (this.d.cluster) {
      await Promise.all(marks.map(([k, ttl]) => valkey.set(k, "1", "EX", ttl)));
      return;
    }
    const res = await marks.reduce((p, [k, ttl]) => p.set(k, "1", "EX", ttl), valkey.pipeline()).exec();
    for (const [err] of res ?? []) if (err) throw err;
  }

  private learn(sids: string[]): void {
    const until = this.d.now().getTime() + (this.d.accessTtlSeconds + 60) * 1000;
    const fresh = sids.filter((s) => !this.known.has(s));
    for (const sid of sids) this.known.set(sid, until);
    this.prune();
    if (fresh.length > 0) this.emit("revoked", fresh);
  }

  private prune(): void {
    const now = this.d.now().getTime();
    for (const [sid, until] of this.known) if (until < now) this.known.delete(sid);
  }

  /** Rebuilds `auth:revoked:*` from Postgres after a (re)connect: a restarted Valkey has lost them. */
  private async rebuildKeys(): Promise<void> {
    const { valkey, keys, pool, accessTtlSeconds } = this.d;
    if (!valkey || this.stopped) return;
    try {
      const since = new Date(this.d.now().getTime() - (accessTtlSeconds + 60) * 1000);
      const { rows } = await pool.query<{ id: string; revoked_at: Date }>(
        "SELECT id, revoked_at FROM auth_sessions WHERE revoked_at > $1",
        [since],
      );
      if (rows.length > 0) {
        const marks: [string, number][] = [];
        for (const r of rows) {
          const left =
            accessTtlSeconds + 60 - Math.floor((this.d.now().getTime() - r.revoked_at.getTime()) / 1000);
          if (left > 0) marks.push([keys.revokedSession(r.id), left]);
        }
        await this.markRevoked(valkey, marks);
        // Revocations announced while our subscriber was away: close those sockets too.
        this.learn(rows.map((r) => r.id));
      }
      this.keysReady = this.d.health?.state === "up";
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, "could not rebuild revocation keys");
    }
  }

  private async pollIfNeeded(): Promise<void> {
    if (this.keysReady || this.stopped) return;
    try {
      // A little overlap: a revocation committed just before the last poll is not missed.
      const since = new Date(this.lastPollAt.getTime() - 2000);
      const polledAt = this.d.now();
      const { rows } = await this.d.pool.query<{ id: string }>(
        "SELECT id FROM auth_sessions WHERE revoked_at > $1",
        [since],
      );
      this.lastPollAt = polledAt;
      if (rows.length > 0) this.learn(rows.map((r) => r.id));
    } catch {
      // Postgres down too: requests that need it answer 503; try again next tick.
    }
  }
}
