import type { AuthService } from "../auth/auth-service.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { PubSub } from "../valkey/pubsub.js";
import { Availability } from "./availability.js";
import { Beacon } from "./beacon.js";
import { recomputeCapacity } from "./capacity.js";
import { DeactivatedSet } from "./deactivated-set.js";
import { Heartbeats } from "./heartbeat.js";
import { MirrorSeed } from "./mirror-seed.js";
import { MitraAdmin } from "./mitra-admin.js";
import { MitraMirror } from "./mitra-mirror.js";
import { MitraStatus } from "./mitra-status.js";
import { PresenceEvents } from "./presence-events.js";

export interface AvailabilityModuleDeps {
  config: Config;
  pool: Pool;
  valkey: ValkeyClient | null;
  valkeyHealth: ValkeyHealth | null;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  now: Clock;
  auth: AuthService;
  pubsub: PubSub;
}

/** Wires the availability mirror: write and read paths and the beacon (the sweeps are wired in services.ts). */
export function buildAvailabilityModule(d: AvailabilityModuleDeps) {
  const seed = new MirrorSeed(d.keys.mirrorSeeded);
  const mirror = new MitraMirror(d.valkey, d.keys, d.log, d.metrics, seed);
  const availability = new Availability({ ...d, seed, staleSeconds: d.config.HEARTBEAT_STALE_SECONDS });

  const events = new PresenceEvents(d.log);
  const deactivated = new DeactivatedSet({ ...d, health: d.valkeyHealth });
  const status = new MitraStatus({
    ...d,
    mirror,
    events,
    deactivated,
    verificationRequired: d.config.VERIFICATION_REQUIRED,
  });

  return {
    mirror,
    seed,
    events,
    deactivated,
    availability,
    beacon: new Beacon(d.valkey, d.keys, availability, d.now),
    heartbeats: new Heartbeats({ ...d, health: d.valkeyHealth, deactivated }),
    status,
    recomputeCapacity: (mitraIds: readonly string[]) => recomputeCapacity(d.pool, mirror, mitraIds),
    admin: new MitraAdmin({
      ...d,
      mirror,
      status,
      availability,
      staleSeconds: d.config.HEARTBEAT_STALE_SECONDS,
    }),
  };
}

export type AvailabilityModule = ReturnType<typeof buildAvailabilityModule>;
