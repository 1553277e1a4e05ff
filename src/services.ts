import { AppConfigStore } from "./app-config/app-config-store.js";
import { createAccessTokens } from "./auth/access-token.js";
import { AuthService } from "./auth/auth-service.js";
import { Revocations } from "./auth/revocation.js";
import { createTokenCrypto } from "./auth/token-crypto.js";
import type { Clock } from "./clock.js";
import { DeadlineTimers } from "./deadline-timers.js";
import { Notifier } from "./events/notifier.js";
import type { GatewayDeps } from "./gateway-deps.js";
import { ClaimOwner } from "./idempotency/claim-owner.js";
import { Idempotency } from "./idempotency/idempotency.js";
import type { Metrics } from "./metrics.js";
import { buildAvailabilityModule } from "./mirror/availability-module.js";
import { dashboardCounts } from "./mirror/dashboard-counts.js";
import { DashboardHistory } from "./mirror/dashboard-history.js";
import { AcceptRace } from "./pairing/accept-race.js";
import { AvailablePicker } from "./pairing/available-picker.js";
import { Pairing } from "./pairing/pairing.js";
import { PAIRING_SWEEP_SECONDS, PairingSweep } from "./pairing/pairing-sweep.js";
import { DeviceStore } from "./push/device-store.js";
import { buildPushModule } from "./push/push-module.js";
import { retryUntilDone } from "./retry-until-done.js";
import { Chat } from "./sessions/chat.js";
import { OverdueSessionsSweep } from "./sessions/overdue-sessions-sweep.js";
import { insertPendingSession } from "./sessions/session-store.js";
import { Sessions } from "./sessions/sessions.js";
import { AutoOffline } from "./sweeps/auto-offline.js";
import { HeartbeatMirror } from "./sweeps/heartbeat-mirror.js";
import { MirrorRepair } from "./sweeps/mirror-repair.js";
import { Reseed } from "./sweeps/reseed.js";
import { Retention } from "./sweeps/retention.js";
import { type Sweep, SweepScheduler } from "./sweeps/scheduler.js";
import { onSlotOwnerChange } from "./valkey/client.js";
import { createKeys, type Keys } from "./valkey/keys.js";
import { OwnedLocks } from "./valkey/owned-lock.js";
import { PubSub } from "./valkey/pubsub.js";
import { createVerificationProvider } from "./verification/create-provider.js";
import { Verifications } from "./verification/verifications.js";

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
  /** Push tokens of signed-in devices (contract §11). */
  const devices = new DeviceStore({ pool: d.pool, now: d.now });
  /** Frames to users, wherever they are connected; the WebSocket layer attaches delivery. */
  const notifier = new Notifier();
  /** Frames of a user with no socket on any process become pushes to its devices (contract §11). */
  const push = buildPushModule({ ...d, keys, appConfig, notifier, devices });
  const avail = buildAvailabilityModule({ ...d, keys, auth, pubsub });
  const stale = d.config.HEARTBEAT_STALE_SECONDS;
  const autoOffline = new AutoOffline({
    ...d,
    keys,
    mirror: avail.mirror,
    events: avail.events,
    staleSeconds: stale,
  });
  const heartbeatMirror = new HeartbeatMirror({ ...d, keys });
  const reseed = new Reseed({ ...d, keys, mirror: avail.mirror });
  /** Late-bound session hooks: pairing replaces `onRerouted` with "pair the customer again at once" (§5). */
  const sessionHooks = {
    onRerouted: async (_customerId: string, _sessionId: string): Promise<void> => {},
  };
  const sessionTimers: DeadlineTimers = new DeadlineTimers({
    now: d.now,
    log: d.log,
    onDue: (id) => sessions.onDue(id),
  });
  const sessions: Sessions = new Sessions({
    ...d,
    appConfig,
    notifier,
    timers: sessionTimers,
    recomputeCapacity: (ids) => avail.recomputeCapacity(ids),
    onRerouted: (customerId, sessionId) => sessionHooks.onRerouted(customerId, sessionId),
  });
  avail.events.onUnavailable(async (mitraIds) => void (await sessions.rerouteMitras(mitraIds)));
  const chat = new Chat({ ...d, notifier, sessions });
  const overdueSessions = new OverdueSessionsSweep({ ...d, sessions });
  const retention = new Retention({ pool: d.pool, now: d.now, appConfig });
  /** Idempotent retries (contract §7) for every creating route and frame. */
  const claimOwner = new ClaimOwner(d.pool, d.log);
  const idempotency = new Idempotency({
    pool: d.pool,
    now: d.now,
    log: d.log,
    hashSecret: d.jwtSecret,
    owner: claimOwner,
  });
  /** For the sweeps that read Valkey's heartbeats: this process's heartbeats still waiting to be written go first. */
  const afterHeartbeatsWritten =
    <R>(run: () => Promise<R>) =>
    async (): Promise<R> => {
      await avail.heartbeats.flushBehind();
      return run();
    };
  const sweeps: Sweep[] = [
    {
      name: "auto_offline",
      cadenceSeconds: d.config.MITRA_AUTO_OFFLINE_SWEEP_SECONDS,
      run: afterHeartbeatsWritten(() => autoOffline.run()),
    },
    {
      name: "heartbeat_mirror",
      cadenceSeconds: d.config.HEARTBEAT_MIRROR_INTERVAL_SECONDS,
      run: afterHeartbeatsWritten(() => heartbeatMirror.run()),
    },
    {
      name: "reseed",
      cadenceSeconds: d.config.VALKEY_ONLINE_MIRROR_SWEEP_SECONDS,
      // Every process (not only the one that takes the reseed's lock) refreshes its deactivated set too.
      run: async () => {
        const r = await reseed.run();
        await avail.deactivated.seed();
        return r;
      },
    },
    // The contract names no variable for it: it shares auto-offline's cadence (docs/sessions.md).
    {
      name: "overdue_sessions",
      cadenceSeconds: d.config.MITRA_AUTO_OFFLINE_SWEEP_SECONDS,
      run: () => overdueSessions.run(),
    },
    // Hourly, fixed: the contract names no variable for it (docs/idempotency.md).
    { name: "retention", cadenceSeconds: 3600, run: () => retention.run() },
  ];
  const picker = new AvailablePicker({
    ...d,
    keys,
    staleSeconds: stale,
    verificationRequired: d.config.VERIFICATION_REQUIRED,
    seed: avail.seed,
  });
  const pairing = new Pairing({
    ...d,
    keys,
    appConfig,
    notifier,
    picker,
    race: new AcceptRace(d.valkey, keys, d.log, d.metrics),
    sessions: {
      createPending: (tx, p) => insertPendingSession(tx, p),
      opened: (session) => sessions.opened(session),
    },
  });
  // A session rerouted away from a mitra that left: the customer is paired again at once (§5).
  sessionHooks.onRerouted = (customerId) => pairing.repair(customerId);
  const verifications = new Verifications({
    ...d,
    keys,
    provider: createVerificationProvider(d.config, d.now),
    locks: d.valkey ? new OwnedLocks(d.valkey) : null,
    webhookSecret: d.config.IDENFY_WEBHOOK_SECRET,
  });
  const dashboardHistory = new DashboardHistory(
    () => dashboardCounts(avail.availability, d.pool),
    d.now,
    d.log,
  );
  const pairingSweep = new PairingSweep(d.pool, pairing, d.now);
  sweeps.push({ name: "pairing", cadenceSeconds: PAIRING_SWEEP_SECONDS, run: () => pairingSweep.run() });
  const scheduler = new SweepScheduler(sweeps, d.log, d.metrics);
  /** Work that must finish before the listeners open (route groups add theirs, e.g. the first admin). */
  const startTasks: (() => Promise<void>)[] = [];
  const stopTasks: (() => void | Promise<void>)[] = [];
  // Contract §3 start-up order: chat-session (and pairing) timers first, before the reseed and the
  // listeners. With Postgres down at start they are retried in the background (the sweeps also cover).
  for (const [name, restore] of [
    ["session timers", () => sessions.restoreTimers()],
    ["pairing timers", () => pairing.restoreTimers()],
  ] as const) {
    startTasks.push(async () => {
      stopTasks.push(await retryUntilDone(name, restore, d.log));
    });
  }
  stopTasks.push(() => sessionTimers.stop());
  stopTasks.push(() => pairing.stop());
  // Before the listeners open, so the first claims already name this process (none without it).
  startTasks.push(() => claimOwner.start());
  stopTasks.push(() => claimOwner.stop());
  startTasks.push(async () => dashboardHistory.start());
  stopTasks.push(() => dashboardHistory.stop());
  startTasks.push(() => push.start());
  stopTasks.push(() => push.stop());

  return {
    ...d,
    keys,
    pubsub,
    crypto,
    access,
    revocations,
    auth,
    appConfig,
    devices,
    push,
    notifier,
    avail,
    pairing,
    picker,
    verifications,
    dashboardHistory,
    idempotency,
    sessions,
    sessionHooks,
    chat,
    scheduler,
    startTasks,
    stopTasks,
    /** Base of links mailed to operators; main/gateway fills in the real internal port when CC_PUBLIC_URL is unset. */
    links: { ccPublicUrl: d.config.ccPublicUrl },
    async start(): Promise<void> {
      await revocations.start();
      await avail.deactivated.start();
      // Seed Valkey before the listeners open and before the tasks that read it (the dashboard
      // history's first sample would read an unseeded mirror and fall back), then keep it seeded.
      if (d.valkeyHealth?.state === "up") await scheduler.runNow("reseed");
      for (const task of startTasks) await task();
      d.valkeyHealth?.on("up", () => void scheduler.runNow("reseed"));
      // A Valkey that lost its data without a reconnect (flushed, a replica promoted before it had it).
      avail.seed.onMissing(() => void scheduler.runNow("reseed"));
      // A mirror write that failed, or a failover of the node holding the mirror (writes the old
      // primary acknowledged may be gone): reseed as soon as Valkey takes it, not at the next cadence.
      if (d.valkey) {
        const repair = new MirrorRepair(
          () => scheduler.runNow("reseed"),
          () => d.valkeyHealth?.state !== "down",
        );
        avail.seed.onDamaged(() => repair.request());
        onSlotOwnerChange(d.valkey, keys.mirrorSeeded, () => avail.seed.damaged());
        stopTasks.unshift(() => repair.stop());
      }
      scheduler.start();
    },
    async stop(): Promise<void> {
      for (const task of stopTasks) await task();
      // Stop the cron, then flush the heartbeat mirror (after the heartbeats still written behind) so
      // Postgres has the latest pings.
      await scheduler.stop();
      await scheduler.runNow("heartbeat_mirror");
      revocations.stop();
      pubsub.close();
    },
  };
}

export type Services = ReturnType<typeof buildServices>;
