import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Keys } from "../valkey/keys.js";
import type { BusMessage, PubSub } from "../valkey/pubsub.js";
import type { SocketHub } from "./socket-hub.js";
import { type Address, topicOf } from "./topics.js";

/**
 * Delivers frames to sockets wherever they are connected (contract §4: the
 * two parties may sit on different processes). One Valkey channel carries
 * every event to every process, which hands it to its own sockets through a
 * uWS topic (no loop over sockets; a topic nobody here subscribes to costs
 * nothing). One channel rather than one per user: no subscribe/unsubscribe
 * churn as sockets come and go, and no event lost in a subscribe race. When
 * Valkey is down, delivery to this process's sockets still works.
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
    await this.pubsub.subscribe(this.keys.channel.events, (msg) => this.receive(msg));
  }

  /** Sends `frame` (an object with a `type`) to everyone at `to`, on every process. */
  async send(to: Address, frame: { type: string } & Record<string, unknown>): Promise<void> {
    const topic = topicOf(to);
    const payload = JSON.stringify(frame);
    try {
      await this.pubsub.publish(this.keys.channel.events, {
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
