import { AppConfigStore } from "./app-config/app-config-store.js";
import { createAccessTokens } from "./auth/access-token.js";
import { AuthService } from "./auth/auth-service.js";
import { Revocations } from "./auth/revocation.js";
import { createTokenCrypto } from "./auth/token-crypto.js";
import type { Clock } from "./clock.js";
import { Notifier } from "./events/notifier.js";
import type { GatewayDeps } from "./gateway-deps.js";
import type { Metrics } from "./metrics.js";
import { buildAvailabilityModule } from "./mirror/availability-module.js";
import { AutoOffline } from "./sweeps/auto-offline.js";
import { HeartbeatMirror } from "./sweeps/heartbeat-mirror.js";
import { Reseed } from "./sweeps/reseed.js";
import { type Sweep, SweepScheduler } from "./sweeps/scheduler.js";
import { createKeys, type Keys } from "./valkey/keys.js";
import { PubSub } from "./valkey/pubsub.js";

export type CoreDeps = Omit<GatewayDeps, "now"> & { metrics: Metrics; now: Clock };

/**
 * The transport-free core: every use case the two doors (HTTP, WebSocket)
 * call. Built once per gateway from the adapters handed in.
 */
export function buildServices(d: CoreDeps) {
  const keys: Keys = createKeys({
    prefix: d.config.VALKEY_KEY_PREFIX,
    cluster: d.config.valkeyMode.kind === "cluster",
  });
  const pubsub = new PubSub(d.valkey, d.log);
  const crypto = createTokenCrypto(d.jwtSecret);
  const access = createAccessTokens(d.jwtSecret, d.config.ACCESS_TOKEN_TTL_SECONDS);
  const revocations = new Revocations({
    pool: d.pool,
    valkey: d.valkey,
    health: d.valkeyHealth,
    pubsub,
    keys,
    log: d.log,
    metrics: d.metrics,
    now: d.now,
    accessTtlSeconds: d.config.ACCESS_TOKEN_TTL_SECONDS,
    cluster: d.config.valkeyMode.kind === "cluster",
  });
  const auth = new AuthService({
    pool: d.pool,
    crypto,
    access,
    revocations,
    rotation: {
      ttlDays: d.config.REFRESH_TOKEN_TTL_DAYS,
      graceSeconds: d.config.REFRESH_REUSE_GRACE_SECONDS,
    },
    now: d.now,
  });
  const appConfig = new AppConfigStore(d.pool);
  /** Frames to users, wherever they are connected; the WebSocket layer attaches delivery. */
  const notifier = new Notifier();
  const avail = buildAvailabilityModule({ ...d, keys, auth });
  const stale = d.config.HEARTBEAT_STALE_SECONDS;
  const autoOffline = new AutoOffline({ ...d, keys, mirror: avail.mirror, staleSeconds: stale });
  const heartbeatMirror = new HeartbeatMirror({ ...d, keys });
  const reseed = new Reseed({ ...d, keys, mirror: avail.mirror });
  const sweeps: Sweep[] = [
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
    { name: "reseed", cadenceSeconds: d.config.VALKEY_ONLINE_MIRROR_SWEEP_SECONDS, run: () => reseed.run() },
  ];
  const scheduler = new SweepScheduler(sweeps, d.log, d.metrics);
  /** Work that must finish before the listeners open (route groups add theirs, e.g. the first admin). */
  const startTasks: (() => Promise<void>)[] = [];
  const stopTasks: (() => void | Promise<void>)[] = [];

  return {
    ...d,
    keys,
    pubsub,
    crypto,
    access,
    revocations,
    auth,
    appConfig,
    notifier,
    avail,
    scheduler,
    startTasks,
    stopTasks,
    /** Base of links mailed to operators; main/gateway fills in the real internal port when CC_PUBLIC_URL is unset. */
    links: { ccPublicUrl: d.config.ccPublicUrl },
    async start(): Promise<void> {
      await revocations.start();
      for (const task of startTasks) await task();
      // Seed Valkey before the listeners open, then keep it seeded on every reconnect.
      if (d.valkeyHealth?.state === "up") await scheduler.runNow("reseed");
      d.valkeyHealth?.on("up", () => void scheduler.runNow("reseed"));
      scheduler.start();
    },
    async stop(): Promise<void> {
      for (const task of stopTasks) await task();
      // Stop the cron, then flush the heartbeat mirror so Postgres has the latest pings.
      await scheduler.stop();
      await scheduler.runNow("heartbeat_mirror");
      revocations.stop();
      pubsub.close();
    },
  };
}

export type Services = ReturnType<typeof buildServices>;
