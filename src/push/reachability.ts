import { randomUUID } from "node:crypto";
import type { UserType } from "../auth/user-types.js";
import type { Logger } from "../log.js";
import type { ValkeyClient, ValkeyHealth } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";
import { timeoutError, withTimeout } from "../with-timeout.js";
import { isPushUser } from "./push-queue.js";

/** This process's lease is renewed this often… */
export const LEASE_RENEW_MS = 3000;
/** …for this long (about 3 renewals: one lost renewal does not make a live process look dead). */
export const LEASE_MS = 10_000;
/**
 * A user's hash outlives a forgotten field (a write lost while Valkey was
 * down, a process killed before its lease ran out) by at most this; renewed
 * on every first socket. A socket older than this with no other socket of the
 * user opening meanwhile reads as unreachable: one push too many, never one lost.
 */
const USER_TTL_MS = 24 * 3600 * 1000;
/** A read slower than this is "unsure" (push): the 1 s budget of contract §11 also pays for Postgres and the provider. */
const READ_TIMEOUT_MS = 250;

const LEASE = "reachLease";

/** This process's sockets, as the socket hub knows them. */
export interface LocalSockets {
  has(userType: UserType, userId: string): boolean;
  /** Every user with a socket here (to write them again after Valkey lost them). */
  users(): Iterable<{ userType: UserType; userId: string }>;
}

export interface ReachabilityDeps {
  valkey: ValkeyClient | null;
  health: ValkeyHealth | null;
  keys: Keys;
  log: Logger;
  cluster: boolean;
}

/**
 * Does a user have an open socket on any process (contract §11)? A socket
 * here answers at once; otherwise Valkey holds, per user, the processes with
 * one of its sockets, and per process a lease, so a process that died leaves
 * no "reachable" behind once its lease ends. Anything uncertain (Valkey down,
 * slow, erroring, or this process's view of the leases too old) answers
 * "unreachable": a push too many is harmless, a frame lost is not
 * (docs/push.md).
 *
 * Writes happen only on a user's first and last socket of this process, are
 * coalesced per event-loop turn and never awaited by the socket; nothing
 * here runs on the heartbeat path.
 */
export class Reachability {
  /** Fresh per start: a restarted process never inherits the fields of its previous life. */
  readonly procId = randomUUID();
  private local: LocalSockets | undefined;
  /** user key → present, written at the end of this turn (the last change of a turn wins). */
  private pending = new Map<string, boolean>();
  private flushScheduled = false;
  private liveProcs = new Set<string>();
  /** Date.now() of the last successful lease renewal; older than LEASE_MS → unsure. */
  private liveAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private renewing: Promise<boolean> | undefined;
  private readonly onUp = (): void => void this.renewShared().then(() => this.rewriteAll());

  constructor(private readonly d: ReachabilityDeps) {
    if (d.valkey) defineScript(d.valkey, LEASE, new URL("./lua/reach-lease-1.lua", import.meta.url));
  }

  /** The WebSocket layer hands in its hub when it starts. */
  attachLocal(local: LocalSockets): void {
    this.local = local;
  }

  async start(): Promise<void> {
    if (!this.d.valkey) return;
    this.timer = setInterval(() => void this.renewShared(), LEASE_RENEW_MS);
    this.timer.unref();
    // Valkey back (maybe empty, maybe after writes were lost): this process's users are written again.
    this.d.health?.on("up", this.onUp);
    await this.renewShared();
  }

  /** Gives up the lease, so the other processes push to this one's users at once. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.d.health?.off("up", this.onUp);
    const { valkey, keys } = this.d;
    if (!valkey) return;
    await readInTime(runScript(valkey, LEASE, [keys.reachProcs], [this.procId, LEASE_MS, "0"])).catch(
      () => {},
    );
  }

  /** The hub: a user's first socket on this process opened (true) or its last closed (false). */
  userPresent(userType: UserType, userId: string, present: boolean): void {
    if (!isPushUser(userType) || !this.d.valkey) return;
    this.pending.set(this.d.keys.reachUser(userType, userId), present);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** True only when sure: a socket here, or a field of a live process in Valkey. */
  async isReachable(userType: UserType, userId: string): Promise<boolean> {
    if (this.local?.has(userType, userId)) return true;
    const { valkey, health, keys } = this.d;
    if (!valkey || health?.state === "down") return false;
    if (Date.now() - this.liveAt > LEASE_MS) return false;
    const key = keys.reachUser(userType, userId);
    let procs: Record<string, string>;
    try {
      procs = await readInTime(valkey.hgetall(key));
    } catch {
      return false;
    }
    const others = Object.keys(procs).filter((proc) => proc !== this.procId);
    // This process's own field is stale or about to go: the hub above is the truth here.
    if (others.some((proc) => this.liveProcs.has(proc))) return true;
    if (others.length === 0) return false;
    // A process missing from this one's view of the leases is dead, or younger than the view (a process
    // started since the last renewal): the view is refreshed before its fields are called dead.
    if (!(await this.renewShared())) return false;
    if (others.some((proc) => this.liveProcs.has(proc))) return true;
    // Fields of processes whose lease ended: gone for good (a restart takes a new id).
    valkey.hdel(key, ...others).catch(() => {});
    return false;
  }

  /** One renewal at a time, shared by every reader that needs a fresh view. */
  private renewShared(): Promise<boolean> {
    this.renewing ??= this.renew().finally(() => {
      this.renewing = undefined;
    });
    return this.renewing;
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = new Map();
    this.write([...batch]);
  }

  private write(changes: [key: string, present: boolean][]): void {
    const { valkey, cluster, log } = this.d;
    if (!valkey || changes.length === 0) return;
    const failed = (err: Error): void =>
      // Healed by the rewrite on reconnect; meanwhile readers elsewhere push (the safe side).
      log.debug({ err: err.message }, "reachability write failed");
    // On a cluster the users' keys sit on several nodes, where ioredis refuses a pipeline: one command
    // each, routed to its node (each is still written without waiting for the last).
    if (cluster) {
      for (const [key, present] of changes) {
        if (present) {
          valkey.hset(key, this.procId, "1").catch(failed);
          valkey.pexpire(key, USER_TTL_MS).catch(failed);
        } else valkey.hdel(key, this.procId).catch(failed);
      }
      return;
    }
    const p = valkey.pipeline();
    for (const [key, present] of changes) {
      if (present) p.hset(key, this.procId, "1").pexpire(key, USER_TTL_MS);
      else p.hdel(key, this.procId);
    }
    p.exec().catch(failed);
  }

  /** True when the view of the live processes is fresh from Valkey. */
  private async renew(): Promise<boolean> {
    const { valkey, keys } = this.d;
    if (!valkey) return false;
    try {
      const live = (await readInTime(
        runScript(valkey, LEASE, [keys.reachProcs], [this.procId, LEASE_MS, "1"]),
        1000,
      )) as string[];
      this.liveProcs = new Set(live);
      this.liveAt = Date.now();
      return true;
    } catch (err) {
      this.d.log.debug({ err: (err as Error).message }, "reachability lease renewal failed");
      return false;
    }
  }

  /** Every local user's field again, in slices so a reconnect with many sockets does not hold the loop. */
  private rewriteAll(): void {
    if (!this.local) return;
    const all: [string, boolean][] = [];
    for (const u of this.local.users())
      if (isPushUser(u.userType)) all.push([this.d.keys.reachUser(u.userType, u.userId), true]);
    const SLICE = 1000;
    const next = (from: number): void => {
      this.write(all.slice(from, from + SLICE));
      if (from + SLICE < all.length) setImmediate(() => next(from + SLICE));
    };
    next(0);
  }
}

const readInTime = <T>(p: Promise<T>, ms = READ_TIMEOUT_MS): Promise<T> =>
  withTimeout(p, ms, timeoutError("reachability: Valkey too slow"));
