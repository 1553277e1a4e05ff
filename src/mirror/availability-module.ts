import type { AuthService } from "../auth/auth-service.js";
import type { Clock } from "../clock.js";
import type { Config } from "../config.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import { AutoOffline } from "../sweeps/auto-offline.js";
import { HeartbeatMirror } from "../sweeps/heartbeat-mirror.js";
import { Reseed } from "../sweeps/reseed.js";
import { SweepScheduler } from "../sweeps/scheduler.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { Availability } from "./availability.js";
import { Beacon } from "./beacon.js";
import { recomputeCapacity } from "./capacity.js";
import { Heartbeats } from "./heartbeat.js";
import { MitraAdmin } from "./mitra-admin.js";
import { MitraMirror } from "./mitra-mirror.js";
import { MitraStatus } from "./mitra-status.js";

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
}

/** Wires the availability mirror: write and read paths, the beacon, and the three sweeps. */
export function buildAvailabilityModule(d: AvailabilityModuleDeps) {
  const mirror = new MitraMirror(d.valkey, d.keys, d.log, d.metrics);
  const availability = new Availability({ ...d, staleSeconds: d.config.HEARTBEAT_STALE_SECONDS });
  const autoOffline = new AutoOffline({ ...d, mirror, staleSeconds: d.config.HEARTBEAT_STALE_SECONDS });
  const heartbeatMirror = new HeartbeatMirror(d);
  const reseed = new Reseed({ ...d, mirror });
  const scheduler = new SweepScheduler(
    [
      {
        name: "auto_offline",
        cadenceSeconds: d.config.MITRA_AUTO_OFFLINE_SWEEP_SECONDS,
        run: () => autoOffline.run(),
      },
      {
        name: "heartbeat_mirror",
        cadenceSeconds: d.config.HEARTBEAT_MIRROR_INTERVAL_SECONDS,
        run: () => heartbeatMirror.run(),
      },
      {
        name: "reseed",
        cadenceSeconds: d.config.VALKEY_ONLINE_MIRROR_SWEEP_SECONDS,
        run: () => reseed.run(),
      },
    ],
    d.log,
    d.metrics,
  );

  const status = new MitraStatus({ ...d, mirror, verificationRequired: d.config.VERIFICATION_REQUIRED });

  return {
    mirror,
    availability,
    beacon: new Beacon(d.valkey, d.keys, availability, d.now),
    heartbeats: new Heartbeats({ ...d, health: d.valkeyHealth }),
    status,
    recomputeCapacity: (mitraIds: readonly string[]) => recomputeCapacity(d.pool, mirror, mitraIds),
    admin: new MitraAdmin({
      ...d,
      mirror,
      status,
      availability,
      staleSeconds: d.config.HEARTBEAT_STALE_SECONDS,
    }),
    scheduler,
    /** Seeds Valkey before the listeners open, then keeps it seeded on every reconnect. */
    async start(): Promise<void> {
      if (d.valkeyHealth?.state === "up") await scheduler.runNow("reseed");
      d.valkeyHealth?.on("up", () => void scheduler.runNow("reseed"));
      scheduler.start();
    },
    /** On shutdown: stop the cron, then flush the heartbeat mirror so Postgres has the latest pings. */
    async stop(): Promise<void> {
      await scheduler.stop();
      await scheduler.runNow("heartbeat_mirror");
    },
  };
}

export type AvailabilityModule = ReturnType<typeof buildAvailabilityModule>;
