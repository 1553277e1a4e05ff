import { Cluster } from "ioredis";
import type { Logger } from "../log.js";
import type { ValkeyClient } from "./client.js";

/**
 * The subscriber queues its SUBSCRIBE until connected and never gives up on
 * it (the command client fails fast instead); ioredis re-subscribes on every
 * reconnect. In cluster mode `shardedSubscribers` keeps one connection per
 * primary for SSUBSCRIBE and moves the subscriptions when a slot's owner
 * changes (failover).
 */
function subscriberOf(client: ValkeyClient): ValkeyClient {
  const opts = { enableOfflineQueue: true, maxRetriesPerRequest: null };
  return client instanceof Cluster
    ? client.duplicate(undefined, {
        enableOfflineQueue: true,
        shardedSubscribers: true,
        redisOptions: { ...client.options.redisOptions, ...opts },
      })
    : client.duplicate(opts);
}

/** Versioned message shape: two gateway versions can run side by side during a deploy. */
export interface BusMessage {
  v: 1;
  kind: string;
  [field: string]: unknown;
}

export type BusHandler = (msg: BusMessage) => void;

/**
 * Valkey pub/sub on a connection of its own (a subscribed client can do
 * nothing else). ioredis re-subscribes after a reconnect. With no Valkey
 * (Postgres-only mode) it delivers inside this process only.
 *
 * Channels are shard channels (SPUBLISH/SSUBSCRIBE, Redis/Valkey ≥ 7.0): on
 * a cluster a message goes to the node owning the channel's slot and to its
 * subscribers, not to every node as PUBLISH does. `subscribeLegacy` listens
 * on a classic channel, only to hear processes of the single-channel version
 * during a rolling deploy (docs/websocket.md).
 */
export class PubSub {
  private readonly sub: ValkeyClient | null;
  private readonly sharded = new Map<string, Set<BusHandler>>();
  private readonly classic = new Map<string, Set<BusHandler>>();

  constructor(
    private readonly client: ValkeyClient | null,
    private readonly log: Logger,
  ) {
    this.sub = client ? subscriberOf(client) : null;
    this.sub?.on("error", () => {}); // the main client's health watcher reports Valkey errors
    this.sub?.on("smessage", (channel: string, raw: string) => this.deliver(this.sharded, channel, raw));
    this.sub?.on("message", (channel: string, raw: string) => this.deliver(this.classic, channel, raw));
  }

  /** Listens on a shard channel (of every process, this one included). */
  subscribe(channel: string, handler: BusHandler): Promise<void> {
    return this.add(this.sharded, channel, handler, (sub) => sub.ssubscribe(channel));
  }

  /** Listens on a classic channel: what gateways of the single-channel version publish on. */
  subscribeLegacy(channel: string, handler: BusHandler): Promise<void> {
    return this.add(this.classic, channel, handler, (sub) => sub.subscribe(channel));
  }

  /** Publishes to every process; in Postgres-only mode, to this one. Throws when Valkey refuses. */
  async publish(channel: string, msg: BusMessage): Promise<void> {
    const raw = JSON.stringify(msg);
    if (!this.client) return this.deliver(this.sharded, channel, raw);
    await this.client.spublish(channel, raw);
  }

  private async add(
    handlers: Map<string, Set<BusHandler>>,
    channel: string,
    handler: BusHandler,
    subscribe: (sub: ValkeyClient) => Promise<unknown>,
  ): Promise<void> {
    let set = handlers.get(channel);
    if (!set) {
      set = new Set();
      handlers.set(channel, set);
      // Fails while Valkey is down; ioredis subscribes again on connect.
      if (this.sub)
        await subscribe(this.sub).catch((err: Error) =>
          this.log.warn({ err: err.message }, "subscribe failed"),
        );
    }
    set.add(handler);
  }

  /** Calls `cb` each time the subscriber connection is ready again (messages published meanwhile were missed). */
  onReconnected(cb: () => void): () => void {
    this.sub?.on("ready", cb);
    return () => this.sub?.off("ready", cb);
  }

  close(): void {
    this.sub?.disconnect();
  }

  private deliver(handlers: Map<string, Set<BusHandler>>, channel: string, raw: string): void {
    const set = handlers.get(channel);
    if (!set) return;
    let msg: BusMessage;
    try {
      msg = JSON.parse(raw) as BusMessage;
    } catch {
      return;
    }
    if (msg.v !== 1) return; // a newer version's message: not ours to read
    for (const h of set) {
      try {
        h(msg);
      } catch (err) {
        this.log.error({ err, channel }, "bus handler failed");
      }
    }
  }
}
