import { randomInt } from "node:crypto";
import type pg from "pg";
import { dedicatedClient, type Pool } from "../db/pool.js";
import type { Logger } from "../log.js";

/** Advisory-lock namespace of live processes (two-key form: namespace, owner). */
const OWNER_LOCK_NAMESPACE = 7501;
/** Between tries to take the lock again after its connection was lost. */
const RETRY_MS = 1000;
/** A query on the idle lock connection now and then, so a connection dropped silently is noticed. */
const PING_MS = 15_000;

/**
 * This process's identity for its idempotency claims, and a way to tell
 * whether another claimant still lives. Each process holds a session
 * advisory lock `(7501, owner)` on a connection of its own for as long
 * as it runs; a kill -9 closes that connection and Postgres drops the lock
 * at once. A claim whose owner holds no lock is then known dead and can be
 * taken over without waiting for its 30 s lease.
 *
 * Only a missing lock counts: a process that is alive but stalled (a long
 * GC, a blocked loop) keeps its connection and its lock, so its claims are
 * never taken from under it. When this process loses the lock's connection,
 * its own work has lost Postgres too; it takes the lock again as soon as it can.
 */
export class ClaimOwner {
  /** Positive int4, so pg_locks shows it unchanged in `objid`. */
  readonly id = randomInt(1, 2 ** 31 - 1);
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
  ) {}

  /** Takes the lock; with Postgres down at start it keeps trying in the background. */
  async start(): Promise<void> {
    const client = dedicatedClient(this.pool);
    try {
      client.on("error", () => this.lost(client));
      client.on("end", () => this.lost(client));
      await client.connect();
      await client.query("SELECT pg_advisory_lock($1, $2)", [OWNER_LOCK_NAMESPACE, this.id]);
      if (this.stopped) return void client.end().catch(() => {});
      this.client = client;
      clearInterval(this.ping);
      this.ping = setInterval(() => void client.query("SELECT 1").catch(() => this.lost(client)), PING_MS);
      this.ping.unref();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "idempotency owner lock not taken; retrying");
      void client.end().catch(() => {});
      this.schedule();
    }
  }

  /**
   * The id to write into a new claim, or null while the lock is not held
   * (then the claim only lapses with its lease: nobody could tell this
   * process alive).
   */
  get current(): number | null {
    return this.client ? this.id : null;
  }

  /** Gives the lock up (a graceful stop has settled every claim first). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
    clearInterval(this.ping);
    void this.client?.end().catch(() => {}); // closing the connection drops the lock
    this.client = undefined;
  }

  /** True when the claimant holds no lock: its process is gone. */
  async isGone(owner: number): Promise<boolean> {
    const { rows } = await this.pool.query<{ alive: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE d.datname = current_database() AND l.locktype = 'advisory' AND l.classid = $1
           AND l.objid = $2 AND l.objsubid = 2 AND l.granted) AS alive`,
      [OWNER_LOCK_NAMESPACE, owner],
    );
    return rows[0]?.alive === false;
  }

  private lost(client: pg.Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    clearInterval(this.ping);
    void client.end().catch(() => {});
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.start(), RETRY_MS);
    this.retry.unref();
  }
}
