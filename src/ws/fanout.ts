import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Keys } from "../valkey/keys.js";
import type { BusMessage, PubSub } from "../valkey/pubsub.js";
import type { SocketHub } from "./socket-hub.js";
import { type Address, topicOf } from "./topics.js";

/**
 * Delivers frames to sockets wherever they are connected (contract §4: the
 * two parties may sit on different processes). Every process listens on a
 * fixed set of shard channels (keys.channel.events) and hands what arrives
 * to its own sockets through a uWS topic (no loop over sockets; a topic
 * nobody here subscribes to costs nothing). A topic always maps to the same
 * shard, so one user's frames keep their order; the shards have hash tags
 * spread over the slot space, so on a cluster the publishing load lands on
 * every primary instead of one. Fixed shards rather than a channel per user:
 * no subscribe/unsubscribe churn as sockets come and go, and no event lost in
 * a subscribe race (trade-off in docs/websocket.md). When Valkey is down,
 * delivery to this process's sockets still works.
 */
export class Fanout {
  constructor(
    private readonly pubsub: PubSub,
    private readonly keys: Keys,
    private readonly hub: SocketHub,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  async start(): Promise<void> {
    const receive = (msg: BusMessage) => this.receive(msg);
    await Promise.all(this.keys.channel.events.map((ch) => this.pubsub.subscribe(ch, receive)));
    // Gateways of the single-channel version publish there until a rolling deploy is over.
    await this.pubsub.subscribeLegacy(this.keys.channel.legacy.events, receive);
  }

  /** Sends `frame` (an object with a `type`) to everyone at `to`, on every process. */
  async send(to: Address, frame: { type: string } & Record<string, unknown>): Promise<void> {
    const topic = topicOf(to);
    const payload = JSON.stringify(frame);
    const shards = this.keys.channel.events;
    try {
      await this.pubsub.publish(shards[shardOf(topic, shards.length)] as string, {
        v: 1,
        kind: "deliver",
        topic,
        frame: payload,
        at: Date.now(),
      });
    } catch (err) {
      // Valkey down: the other processes miss it, this one's sockets still get it.
      this.log.warn({ err: (err as Error).message }, "fan-out through Valkey failed; delivered locally only");
      this.hub.publish(topic, payload);
    }
  }

  private receive(msg: BusMessage): void {
    if (msg.kind !== "deliver" || typeof msg.topic !== "string" || typeof msg.frame !== "string") return;
    this.hub.publish(msg.topic, msg.frame);
    if (typeof msg.at === "number")
      this.metrics.fanoutLatency.observe(Math.max(0, Date.now() - msg.at) / 1000);
  }
}

/** FNV-1a of the topic: cheap, and even enough over uuids to spread users over the shards. */
export function shardOf(topic: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) h = Math.imul(h ^ topic.charCodeAt(i), 0x01000193);
  return (h >>> 0) % shards;
}
