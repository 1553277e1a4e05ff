import bcrypt from "bcrypt";
import { AppError } from "../errors.js";

/** Contract §2: bcrypt cost 12 (~230 ms of CPU on the reference machine). */
export const BCRYPT_COST = 12;

/** Contract §2: at most this many hash operations wait for a slot; more answer BUSY. */
export const MAX_WAITING = 32;

/**
 * A cost-12 hash of a password nobody has. Comparing against it costs what a
 * real comparison costs, so an unknown email (or an invited operator without
 * a password) answers in about the time a wrong password does.
 */
const DUMMY_HASH = "$2b$12$cIXzIihWdfk2gss4IFw1Ru5TsTUnL6xAcnGtVprsEtHOgEvCghr4K";

/** bcrypt reads at most 72 bytes: a longer candidate could only match through truncation. */
const BCRYPT_MAX_BYTES = 72;

export interface PasswordHasherOptions {
  concurrency: number;
  cost?: number;
  maxWaiting?: number;
}

/**
 * bcrypt through its async API (the work runs on libuv's thread pool, off the
 * event loop), behind a small semaphore: a login flood queues at most
 * `maxWaiting` operations and refuses the rest with 503 BUSY, so latency
 * cannot grow without bound and the thread pool stays free for pg and DNS.
 */
export class PasswordHasher {
  private readonly cost: number;
  private readonly maxWaiting: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly opts: PasswordHasherOptions) {
    this.cost = opts.cost ?? BCRYPT_COST;
    this.maxWaiting = opts.maxWaiting ?? MAX_WAITING;
  }

  hash(password: string): Promise<string> {
    return this.withSlot(() => bcrypt.hash(password, this.cost));
  }

  /**
   * True when `password` matches `storedHash`. A null hash (no account, or no
   * password yet) is compared against the dummy hash and is always false.
   */
  async verify(password: string, storedHash: string | null): Promise<boolean> {
    const usable = storedHash !== null && Buffer.byteLength(password, "utf8") <= BCRYPT_MAX_BYTES;
    const matches = await this.withSlot(() => bcrypt.compare(password, usable ? storedHash : DUMMY_HASH));
    return usable && matches;
  }

  /** Operations running and waiting now (for tests and metrics). */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  private async withSlot<T>(work: () => Promise<T>): Promise<T> {
    if (this.running < this.opts.concurrency) {
      this.running++;
    } else {
      if (this.waiting.length >= this.maxWaiting) throw busy();
      // The releasing operation hands its slot straight to us: `running` stays as it is.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

export const busy = (): AppError =>
  new AppError("BUSY", 503, "Too many password checks in progress; try again shortly", {
    retryAfterSeconds: 1,
  });
