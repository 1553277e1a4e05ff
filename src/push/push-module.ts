import type { AppConfigStore } from "../app-config/app-config-store.js";
import type { Config } from "../config.js";
import type { Notifier } from "../events/notifier.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { createPushProvider } from "./create-provider.js";
import { PushDispatcher } from "./push-dispatcher.js";
import { type PushDevices, PushQueue } from "./push-queue.js";
import { Reachability } from "./reachability.js";

/** At shutdown, time for pushes already queued to go out (within main's 9 s stop). */
const QUEUE_DRAIN_MS = 1000;

export interface PushModuleDeps {
  config: Config;
  log: Logger;
  valkey: ValkeyClient | null;
  valkeyHealth: ValkeyHealth | null;
  keys: Keys;
  metrics: Metrics;
  appConfig: AppConfigStore;
  notifier: Notifier;
  devices: PushDevices;
}

/**
 * Push to apps in the background (contract §11): reachability, the
 * dispatcher watching the Notifier, and the send queue in front of the
 * provider. The WebSocket layer hands its socket hub to `reachability`.
 */
export function buildPushModule(d: PushModuleDeps) {
  const reachability = new Reachability({
    valkey: d.valkey,
    health: d.valkeyHealth,
    keys: d.keys,
    log: d.log,
    cluster: d.config.valkeyMode.kind === "cluster",
  });
  const queue = new PushQueue(
    createPushProvider(d.config, d.log),
    d.devices,
    {
      sent: d.metrics.pushSent,
      failed: d.metrics.pushFailed,
      retried: d.metrics.pushRetried,
      dropped: d.metrics.pushDropped,
    },
    d.log,
    { rememberLast: d.config.ENABLE_TEST_ROUTES },
  );
  const dispatcher = new PushDispatcher({
    reachability,
    devices: d.devices,
    queue,
    chatPreview: async () => (await d.appConfig.get()).push_chat_preview,
    log: d.log,
  });
  d.notifier.observe(dispatcher.observe);
  return {
    reachability,
    queue,
    dispatcher,
    start: (): Promise<void> => reachability.start(),
    async stop(): Promise<void> {
      await queue.stop(QUEUE_DRAIN_MS);
      await reachability.stop();
    },
  };
}

export type PushModule = ReturnType<typeof buildPushModule>;
