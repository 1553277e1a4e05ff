import { Cluster } from "ioredis";
import type { Logger } from "../log.js";
import type { ValkeyClient } from "./client.js";

/**
 * The subscriber queues its SUBSCRIBE until connected and never gives up on
 * it (the command client fails fast instead); ioredis re-subscribes on every
 * reconnect.
 */
function subscriberOf(client: ValkeyClient): ValkeyClient {
  const opts = { enableOfflineQueue: true, maxRetriesPerRequest: null };
  return client instanceof Cluster
    ? client.duplicate(undefined, {
        enableOfflineQueue: true,
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
 */
export class PubSub {
  private readonly sub: ValkeyClient | null;
  private readonly handlers = new Map<string, Set<BusHandler>>();

  constructor(
    private readonly client: ValkeyClient | null,
    private readonly log: Logger,
  ) {
    this.sub = client ? subscriberOf(client) : null;
    this.sub?.on("error", () => {}); // the main client's health watcher reports Valkey errors
    this.sub?.on("message", (channel: string, raw: string) => this.deliver(channel, raw));
  }

  async subscribe(channel: string, handler: BusHandler): Promise<void> {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      // Fails while Valkey is down; ioredis subscribes again on connect.
      await this.sub
        ?.subscribe(channel)
        .catch((err: Error) => this.log.warn({ err: err.message }, "subscribe failed"));
    }
    set.add(handler);
  }

  /** Publishes to every process; in Postgres-only mode, to this one. Throws when Valkey refuses. */
  async publish(channel: string, msg: BusMessage): Promise<void> {
    const raw = JSON.stringify(msg);
    if (!this.client) return this.deliver(channel, raw);
    await this.client.publish(channel, raw);
  }

  close(): void {
    this.sub?.disconnect();
  }

  private deliver(channel: string, raw: string): void {
    const set = this.handlers.get(channel);
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
