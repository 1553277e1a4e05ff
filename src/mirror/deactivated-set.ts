import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { BusMessage, PubSub } from "../valkey/pubsub.js";

export interface DeactivatedSetDeps {
  pool: Pool;
  pubsub: PubSub;
  health: ValkeyHealth | null;
  keys: Keys;
  log: Logger;
}

type Change = { mitraId: string; active: boolean };

/**
 * This process's copy of `mitras.is_active = false`, so a heartbeat is
 * guarded from memory instead of a Valkey round trip each (issue 17: at a
 * steady rate a tick holds about one heartbeat, and each paid its own call).
 *
 * - Seeded from Postgres (the truth) at start, after every Valkey reconnect
 *   and on the reseed's cadence; kept current between seeds by a pub/sub
 *   message from every (de)activation, which the deactivating process sends
 *   before it answers.
 * - `fresh` is false from a Valkey disconnect until the seed that follows the
 *   reconnect finishes:
 *   a change made elsewhere while Valkey was down was never published, so the
 *   copy may lack it. The heartbeat then takes the guarded round trip.
 * - It is not the last word: the write of the heartbeats still runs Valkey's
 *   Lua guard, and a refusal there is learned here (`learn`).
 */
export class DeactivatedSet {
  private ids = new Set<string>();
  private seeded = false;
  /** Bumped on every Valkey disconnect and reconnect: a seed that began before one does not make the copy fresh. */
  private epoch = 0;
  /** Changes heard while a seed's query runs, replayed over its result (the query may predate them). */
  private heard: Change[] | null = null;

  constructor(private readonly d: DeactivatedSetDeps) {}

  async start(): Promise<void> {
    await this.d.pubsub.subscribe(this.d.keys.channel.mitraActive, (msg) => this.onMessage(msg));
    this.d.health?.on("down", () => this.invalidate());
    this.d.health?.on("up", () => {
      this.invalidate();
      void this.seed();
    });
    await this.seed();
  }

  /** True when the copy can answer for Postgres: seeded since the last Valkey disconnect. */
  get fresh(): boolean {
    return this.seeded && this.d.health?.state === "up";
  }

  has(mitraId: string): boolean {
    return this.ids.has(mitraId);
  }

  get size(): number {
    return this.ids.size;
  }

  /** Reads every deactivated mitra from Postgres and replaces the copy. A failure is logged; the copy stays not fresh. */
  async seed(): Promise<void> {
    const epoch = this.epoch;
    const heard: Change[] = [];
    this.heard = heard;
    try {
      const { rows } = await this.d.pool.query<{ id: string }>("SELECT id FROM mitras WHERE NOT is_active");
      const ids = new Set(rows.map((r) => r.id));
      for (const c of heard) apply(ids, c);
      this.ids = ids;
      if (epoch === this.epoch) this.seeded = true;
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, "could not seed the deactivated mitras");
    } finally {
      if (this.heard === heard) this.heard = null;
    }
  }

  /**
   * A (de)activation committed in Postgres: applied here at once, then told to
   * every process before the caller answers. A failed publish is logged: the
   * other processes learn it from the Lua guard, or at their next seed.
   */
  async announce(mitraId: string, active: boolean): Promise<void> {
    this.note({ mitraId, active });
    await this.d.pubsub
      .publish(this.d.keys.channel.mitraActive, { v: 1, kind: "mitra-active", mitraId, active })
      .catch((err: Error) => this.d.log.warn({ err: err.message }, "could not publish a (de)activation"));
  }

  /** Mitras that Valkey's guard refused although this copy let them through. */
  learn(mitraIds: readonly string[]): void {
    for (const mitraId of mitraIds) this.note({ mitraId, active: false });
  }

  private invalidate(): void {
    this.epoch++;
    this.seeded = false;
  }

  private onMessage(msg: BusMessage): void {
    if (msg.kind === "mitra-active" && typeof msg.mitraId === "string" && typeof msg.active === "boolean")
      this.note({ mitraId: msg.mitraId, active: msg.active });
  }

  private note(c: Change): void {
    apply(this.ids, c);
    this.heard?.push(c);
  }
}

function apply(ids: Set<string>, c: Change): void {
  if (c.active) ids.delete(c.mitraId);
  else ids.add(c.mitraId);
}
