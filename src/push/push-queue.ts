import type { UserType } from "../auth/user-types.js";
import type { Logger } from "../log.js";
import { withTimeout } from "../with-timeout.js";
import type { PushMessage, PushProvider, PushResult } from "./push-provider.js";

/** The user types with devices (operators have none). */
export type PushUserType = "customer" | "mitra";
export const isPushUser = (userType: UserType): userType is PushUserType =>
  userType === "customer" || userType === "mitra";

/** What push delivery needs of the device store (src/push/device-store.ts). */
export interface PushDevices {
  /** Devices of the user's live, unrevoked auth sessions. */
  devicesOf(
    userType: PushUserType,
    userId: string,
  ): Promise<{ sid: string; platform: "android" | "ios"; token: string }[]>;
  deleteToken(token: string): Promise<void>;
}

/** The counters the queue keeps (halo_push_*_total in src/metrics.ts). */
export interface PushCounters {
  sent: { inc(): void };
  failed: { inc(labels: { reason: "unregistered" | "rejected" | "retries_exhausted" }): void };
  retried: { inc(): void };
  dropped: { inc(): void };
}

export interface PushQueueOptions {
  /** Pushes waiting (queued or between tries) at most; beyond, the oldest is dropped and counted. */
  capacity?: number;
  /** Sends in flight at once. */
  concurrency?: number;
  /** Tries per push, the first included (contract §11: at most 3). */
  maxTries?: number;
  /** Backoff before try n+1: base × 2^(n−1), ±50 % jitter, or the provider's Retry-After when longer. */
  backoffBaseMs?: number;
  /** A Retry-After longer than this gives the push up: it would arrive long after it mattered. */
  maxRetryAfterMs?: number;
  /** An attempt the provider has not answered by then counts as a retry (a stalled provider frees its slot). */
  attemptTimeoutMs?: number;
  /** Remember the last push sent to each user (for GET /internal/_test/push). */
  rememberLast?: boolean;
}

interface Job {
  userId: string;
  msg: PushMessage;
  tries: number;
}

/** Users whose last push is remembered, at most (oldest forgotten first). */
const LAST_PUSHES = 1000;

/**
 * The bounded send queue of contract §11: enqueuing never waits and never
 * throws (a frame or a route is never slowed by a provider); overflow drops
 * the oldest push and counts it; a few sends in flight; the queue, not the
 * provider, owns retries, backoff (honouring Retry-After) and deleting
 * tokens the provider calls unregistered, so every provider gets them alike.
 */
export class PushQueue {
  private readonly waiting = new Deque<Job>();
  /** Jobs between tries, in the order they were parked (oldest first, for overflow). */
  private readonly parked = new Map<Job, NodeJS.Timeout>();
  private inFlight = 0;
  private stopped = false;
  private idle: (() => void) | undefined;
  private readonly last = new Map<string, PushMessage>();
  private readonly o: Required<PushQueueOptions>;

  constructor(
    /** Undefined until `useProvider` (the provider is built at start): pushes wait in the queue meanwhile. */
    private provider: PushProvider | undefined,
    private readonly devices: Pick<PushDevices, "deleteToken">,
    private readonly counters: PushCounters,
    private readonly log: Logger,
    opts: PushQueueOptions = {},
  ) {
    this.o = {
      capacity: 10_000,
      concurrency: 8,
      maxTries: 3,
      backoffBaseMs: 500,
      maxRetryAfterMs: 60_000,
      attemptTimeoutMs: 10_000,
      rememberLast: false,
      ...opts,
    };
  }

  useProvider(provider: PushProvider): void {
    this.provider = provider;
    this.pump();
  }

  get size(): number {
    return this.waiting.length + this.parked.size;
  }

  enqueue(userId: string, msg: PushMessage): void {
    if (this.stopped) return void this.counters.dropped.inc();
    this.makeRoom();
    this.waiting.push({ userId, msg, tries: 0 });
    this.pump();
  }

  /** The last push sent to this user by this process (only with rememberLast). */
  lastPushTo(userId: string): PushMessage | undefined {
    return this.last.get(userId);
  }

  /** Takes no more; waits up to drainMs for what is queued, then drops the rest (counted). */
  async stop(drainMs: number): Promise<void> {
    this.stopped = true;
    for (const [job, timer] of this.parked) {
      clearTimeout(timer);
      this.parked.delete(job);
      this.waiting.push(job);
    }
    this.pump();
    if (this.waiting.length > 0 || this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, drainMs);
        this.idle = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.idle = undefined;
    while (this.waiting.shift()) this.counters.dropped.inc();
    await this.provider?.close?.();
  }

  private makeRoom(): void {
    if (this.size < this.o.capacity) return;
    if (this.waiting.shift() === undefined) {
      // Everything left is between tries: the oldest of those goes.
      const [job, timer] = this.parked.entries().next().value as [Job, NodeJS.Timeout];
      clearTimeout(timer);
      this.parked.delete(job);
    }
    this.counters.dropped.inc();
  }

  private pump(): void {
    while (this.provider && this.inFlight < this.o.concurrency) {
      const job = this.waiting.shift();
      if (!job) break;
      this.inFlight++;
      void this.attempt(job).finally(() => {
        this.inFlight--;
        this.pump();
        if (this.idle && this.inFlight === 0 && this.waiting.length === 0) this.idle();
      });
    }
  }

  private async attempt(job: Job): Promise<void> {
    const provider = this.provider as PushProvider;
    job.tries++;
    let result: PushResult;
    try {
      result = await withTimeout(provider.send(job.msg), this.o.attemptTimeoutMs, () => ({
        kind: "retry",
        reason: "provider did not answer in time",
      }));
    } catch (err) {
      // A provider must answer with a result; a throw is treated as a network error would be.
      result = { kind: "retry", reason: (err as Error).message };
    }
    switch (result.kind) {
      case "sent":
        this.counters.sent.inc();
        if (this.o.rememberLast) this.remember(job.userId, job.msg);
        return;
      case "unregistered":
        this.counters.failed.inc({ reason: "unregistered" });
        await this.devices.deleteToken(job.msg.token).catch((err: Error) => {
          this.log.warn({ err: err.message }, "push: could not delete an unregistered token");
        });
        return;
      case "failed":
        this.counters.failed.inc({ reason: "rejected" });
        this.log.warn({ provider: provider.name, reason: result.reason }, "push failed");
        return;
      case "retry":
        this.retryLater(job, provider.name, result);
    }
  }

  private retryLater(job: Job, provider: string, result: { afterMs?: number; reason: string }): void {
    const afterMs = result.afterMs ?? 0;
    if (job.tries >= this.o.maxTries || afterMs > this.o.maxRetryAfterMs || this.stopped) {
      this.counters.failed.inc({ reason: "retries_exhausted" });
      this.log.warn({ provider, tries: job.tries, reason: result.reason }, "push given up");
      return;
    }
    this.counters.retried.inc();
    const backoff = this.o.backoffBaseMs * 2 ** (job.tries - 1) * (0.5 + Math.random());
    const timer = setTimeout(
      () => {
        this.parked.delete(job);
        this.waiting.push(job);
        this.pump();
      },
      Math.max(afterMs, backoff),
    );
    timer.unref();
    this.parked.set(job, timer);
  }

  private remember(userId: string, msg: PushMessage): void {
    this.last.delete(userId);
    this.last.set(userId, msg);
    if (this.last.size > LAST_PUSHES) this.last.delete(this.last.keys().next().value as string);
  }
}

/** A FIFO whose shift stays O(1) at any length (a full queue is 10,000 pushes, shifted one by one). */
class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
