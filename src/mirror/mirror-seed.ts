import type { Keys } from "../valkey/keys.js";

/** How often at most a reader that found the mirror unseeded asks for a reseed. */
const WAKE_EVERY_MS = 5000;

/** A mirror read refused because Valkey does not hold a whole mirror: the caller reads Postgres. */
export class MirrorNotSeededError extends Error {
  constructor() {
    super("the availability mirror is not seeded in this Valkey");
  }
}

/**
 * Whether Valkey holds a whole availability mirror. The reseed writes a
 * sentinel key last; a Valkey restarted empty (or flushed, or a replica
 * promoted before it had one) lacks it, and its empty sets would read as
 * "nobody online" — the dashboard showing 0 and pairing answering
 * NO_MITRA_AVAILABLE until the reseed finished (fault suite, scenario 1).
 * Readers check the sentinel with their read and fall back to Postgres
 * without it, and wake the reseed.
 */
export class MirrorSeed {
  private wake: (() => void) | null = null;
  private repair: (() => void) | null = null;
  private lastWakeAt = 0;

  constructor(readonly key: Keys["mirrorSeeded"]) {}

  /** Called (at most every 5 s) when a reader finds the mirror unseeded: services.ts runs the reseed. */
  onMissing(fn: () => void): void {
    this.wake = fn;
  }

  /**
   * The mirror may lack a write Postgres has: a mirror write failed, or the
   * Valkey node holding the mirror changed (services.ts runs the reseed until
   * one completes: MirrorRepair).
   */
  onDamaged(fn: () => void): void {
    this.repair = fn;
  }

  damaged(): void {
    this.repair?.();
  }

  /** `exists`: the reply of EXISTS on the sentinel, read beside the data. Throws when it is missing. */
  check(exists: number): void {
    if (exists === 0) {
      this.missing();
      throw new MirrorNotSeededError();
    }
  }

  missing(): void {
    const now = Date.now();
    if (now - this.lastWakeAt < WAKE_EVERY_MS) return;
    this.lastWakeAt = now;
    this.wake?.();
  }
}
