import { EventEmitter } from "node:events";
import calculateSlot from "cluster-key-slot";
import { Cluster, Redis } from "ioredis";
import type { Logger } from "../log.js";
import { timeoutError, withTimeout } from "../with-timeout.js";

export type ValkeyClient = Redis | Cluster;
export type ValkeyState = "up" | "down";

export type ValkeyTarget =
  | { kind: "standalone"; url: string }
  | { kind: "cluster"; nodes: { host: string; port: number }[] };

/**
 * Reconnect backoff: 50 ms, then every 100 ms. The contract caps it at 2 s; a
 * Valkey back from an outage is seen within a tenth of a second (the cap was
 * 1 s, then 0.25 s: both a large part of the 2 s a 100,000-mitra reseed is
 * allowed from Valkey answering), for ten connection attempts a second per
 * connection while it is down: refused at once on a dead port, a few thousand
 * a second for a hundred processes, nothing for Valkey.
 */
export const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 100);

/**
 * Commands fail fast while disconnected (no offline queue), so callers fall
 * back to Postgres at once instead of waiting for a reconnect.
 */
const COMMON = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 2000,
  connectTimeout: 2000,
  retryStrategy: reconnectDelay,
} as const;

export function createValkeyClient(target: ValkeyTarget, name: string): ValkeyClient {
  if (target.kind === "cluster") {
    const cluster = new Cluster(target.nodes, {
      clusterRetryStrategy: reconnectDelay,
      enableOfflineQueue: false,
      redisOptions: { ...COMMON, connectionName: name },
    });
    connectNodesEagerly(cluster);
    return cluster;
  }
  return new Redis(target.url, { ...COMMON, connectionName: name });
}

/**
 * Calls `fn` when the primary serving `key`'s slot changes: a failover (the
 * old primary's last writes may not have reached the replica that took over:
 * replication is asynchronous) or a slot moved. Read from ioredis' slot map
 * after each of its refreshes; nothing on a standalone Valkey.
 */
export function onSlotOwnerChange(client: ValkeyClient, key: string, fn: () => void): void {
  if (!(client instanceof Cluster)) return;
  const slot = calculateSlot(key);
  let owner = client.slots[slot]?.[0];
  client.on("refresh", () => {
    const now = client.slots[slot]?.[0];
    if (now === owner) return;
    const was = owner;
    owner = now;
    if (was !== undefined && now !== undefined) fn();
  });
}

/**
 * ioredis opens a cluster node's connection on the first command routed to
 * it. Without an offline queue, the commands sent while it connects are
 * rejected and retried by ioredis after a slots refresh, i.e. after commands
 * sent later: a burst of frames to one user arrived shuffled
 * (test/fanout-shards.test.ts). Connecting every node as soon as ioredis
 * learns of it (at start, and the promoted replica after a failover) keeps
 * one ordered connection per node from the first command.
 */
function connectNodesEagerly(cluster: Cluster): void {
  cluster.on("+node", (node: Redis) => {
    if (node.status === "wait") node.connect().catch(() => {}); // errors reach the cluster's own handlers
  });
}

/**
 * Watches one client and says whether Valkey is usable. A closed socket is
 * seen at once; a server that hangs is caught by a PING every second, so
 * /readyz reflects a change within 2 s. Emits "up" on every (re)connect, which
 * is when the reseed runs.
 */
export class ValkeyHealth extends EventEmitter {
  private current: ValkeyState = "down";
  private timer: NodeJS.Timeout | undefined;
  private lastErrorLog = 0;

  constructor(
    private readonly client: ValkeyClient,
    private readonly log: Logger,
    private readonly pingEveryMs = 1000,
  ) {
    super();
    client.on("ready", () => this.set("up"));
    client.on("close", () => this.set("down"));
    client.on("end", () => this.set("down"));
    client.on("node error", (err: Error) => this.logError(err));
    // Without an "error" listener ioredis errors would crash the process.
    client.on("error", (err: Error) => this.logError(err));
  }

  get state(): ValkeyState {
    return this.current;
  }

  start(): void {
    this.timer = setInterval(() => void this.probe(), this.pingEveryMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Resolves true once Valkey is up, false after timeoutMs. */
  waitUntilUp(timeoutMs: number): Promise<boolean> {
    if (this.current === "up") return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.off("up", onUp);
        resolve(false);
      }, timeoutMs);
      const onUp = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.once("up", onUp);
    });
  }

  private async probe(): Promise<void> {
    if (this.client.status !== "ready") return this.set("down");
    try {
      await withTimeout(this.client.ping(), this.pingEveryMs, timeoutError("ping timeout"));
      this.set("up");
    } catch (err) {
      this.logError(err as Error);
      this.set("down");
    }
  }

  private set(next: ValkeyState): void {
    if (next === this.current) return;
    this.current = next;
    this.log[next === "up" ? "info" : "warn"]({ valkey: next }, `valkey ${next}`);
    this.emit(next);
  }

  private logError(err: Error): void {
    // A down Valkey produces an error per reconnect attempt; one line every 10 s is enough.
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.log.warn({ err: err.message }, "valkey error");
  }
}
