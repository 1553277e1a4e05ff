import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import { AppError, notFound } from "../errors.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { Keys } from "../valkey/keys.js";
import type { OwnedLocks } from "../valkey/owned-lock.js";
import { idenfySignatureValid } from "./idenfy-provider.js";
import { TERMINAL, type VerificationProvider } from "./provider.js";
import type { VerificationRow } from "./verification-store.js";
import * as store from "./verification-store.js";

/** What a mitra reads (contract §6). `pending`: another reader is re-minting; no token meanwhile. */
export interface VerificationView {
  verificationId: string;
  status: "in_progress" | "approved" | "denied" | "suspected" | "expired" | "pending";
  authToken: string | null;
  redirectUrl: string | null;
  expiresAt: string | null;
  reason: string | null;
}

export interface VerificationsDeps {
  pool: Pool;
  /** null when no provider is configured: the routes answer 503. */
  provider: VerificationProvider | null;
  /** null without Valkey: nothing is minted then (the lock cannot be taken), reads still answer. */
  locks: OwnedLocks | null;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  now: Clock;
  webhookSecret: string | undefined;
}

/** The lock around one provider call: `SET NX EX 30` (contract §6). */
const LOCK_SECONDS = 30;
/** How often a status read may ask the provider about an in-progress session. */
const POLL_INTERVAL_MS = 30_000;

const unavailable = (): AppError =>
  new AppError("DEPENDENCY_UNAVAILABLE", 503, "Identity verification is not configured");

/**
 * Mitra identity verification (contract §6). Postgres holds each
 * verification; the provider is asked only around minting and, at most once
 * per interval, on a status read. An expired provider session is re-minted
 * in place on the next status read, under a Valkey lock held only around the
 * provider call, with a write conditional on the scanRef it replaces.
 */
export class Verifications {
  constructor(private readonly d: VerificationsDeps) {}

  /** POST /api/mitra/verification: the in-progress (or approved) verification, or a new one. */
  async start(mitraId: string): Promise<VerificationView> {
    const provider = this.requireProvider();
    const latest = await store.latestOf(this.d.pool, mitraId);
    // A denied or suspected verification may be retried with a new one; anything else is read (and re-minted).
    if (latest && !(latest.status === "denied" || latest.status === "suspected")) return this.status(mitraId);
    const locks = this.requireLocks();
    const key = this.d.keys.verificationCreateLock(mitraId);
    const token = await locks.acquire(key, LOCK_SECONDS);
    if (!token) throw new AppError("REQUEST_IN_PROGRESS", 409, "A verification is being started");
    try {
      // Re-read under the lock: a peer may have just created one.
      const again = await store.latestOf(this.d.pool, mitraId);
      if (again && again.id !== latest?.id) return view(again);
      const session = await provider.createSession(mitraId);
      this.d.metrics.verificationProviderCalls.inc({ call: "create" });
      return view(
        await store.insertVerification(this.d.pool, {
          mitraId,
          provider: provider.name,
          clientId: mitraId,
          session,
          now: this.d.now(),
        }),
      );
    } finally {
      await locks.release(key, token).catch(() => {});
    }
  }

  /** GET /api/mitra/verification: the status, re-minting an expired provider session in place. */
  async status(mitraId: string): Promise<VerificationView> {
    let row = await store.latestOf(this.d.pool, mitraId);
    if (!row) throw notFound("No verification yet");
    if (TERMINAL.has(row.status) || row.status_reason === store.CAP_REASON) return view(row);
    if (row.status === "in_progress") row = await this.pollIfDue(row);
    if (TERMINAL.has(row.status)) return view(row);
    const now = this.d.now();
    const expired = row.status === "expired" || (row.expires_at !== null && row.expires_at <= now);
    return expired ? this.remint(row) : view(row);
  }

  /** POST /webhooks/idenfy: signature over the raw bytes, then the verdict for that scanRef. */
  async webhook(raw: Buffer, signature: string | undefined): Promise<void> {
    const provider = this.requireProvider();
    if (!this.d.webhookSecret || !idenfySignatureValid(raw, signature, this.d.webhookSecret))
      throw new AppError("INVALID_SIGNATURE", 401, "Missing or bad webhook signature");
    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new AppError("VALIDATION_FAILED", 400, "The webhook body is not JSON", { issues: [] });
    }
    const event = provider.parseWebhook(body);
    const row = await store.byScanRef(this.d.pool, event.scanRef);
    if (!row) throw notFound("Unknown scanRef");
    // in_progress says nothing new; expired is stored and re-minted on the next status read.
    if (event.status !== "in_progress")
      await store.recordVerdict(this.d.pool, event.scanRef, event.status, event.reason, this.d.now());
  }

  list(q: Parameters<typeof store.listVerifications>[1]): ReturnType<typeof store.listVerifications> {
    return store.listVerifications(this.d.pool, q);
  }

  /** At most one provider poll per interval per verification; the others answer from the row. */
  private async pollIfDue(row: VerificationRow): Promise<VerificationRow> {
    const provider = this.d.provider;
    if (!provider || !row.scan_ref) return row;
    const now = this.d.now();
    // The common path: polled recently, so no statement beyond the read and no provider call.
    if (row.polled_at && now.getTime() - row.polled_at.getTime() < POLL_INTERVAL_MS) return row;
    if (!(await store.claimPoll(this.d.pool, row.id, now, POLL_INTERVAL_MS))) return row;
    try {
      const verdict = await provider.getStatus(row.scan_ref);
      this.d.metrics.verificationProviderCalls.inc({ call: "status" });
      if (verdict.status === "in_progress") return row;
      return (
        (await store.recordVerdict(
          this.d.pool,
          row.scan_ref,
          verdict.status,
          verdict.reason,
          this.d.now(),
        )) ??
        (await store.byId(this.d.pool, row.id)) ??
        row
      );
    } catch (err) {
      // A failed poll is not the reader's problem: answer what is stored, poll again next interval.
      this.d.log.warn({ err: (err as Error).message }, "verification status poll failed");
      return row;
    }
  }

  /**
   * Re-mints an expired provider session in place. Only the holder of the
   * lock calls the provider; a reader that loses it answers `pending` with no
   * token. Without Valkey nothing is minted (no lock, no mint). The write is
   * conditional on the scanRef replaced; if a peer won, its state is answered.
   */
  private async remint(row: VerificationRow): Promise<VerificationView> {
    const now = this.d.now();
    if (row.recreate_count >= store.MAX_RECREATES)
      return view((await store.markCapped(this.d.pool, row.id, now)) ?? (await this.reread(row)));
    const provider = this.d.provider;
    if (!provider || !this.d.locks) return pending(row);
    const key = this.d.keys.verificationRecreateLock(row.id);
    let token: string | null;
    try {
      token = await this.d.locks.acquire(key, LOCK_SECONDS);
    } catch {
      this.d.metrics.valkeyFallbacks.inc({ operation: "verification_lock" });
      return pending(row);
    }
    if (!token) return pending(row);
    try {
      // Re-read under the lock: a peer that held it just before may have re-minted already
      // (measured: without this, 1.4–1.8 provider calls per expiry under 50 concurrent readers).
      const current = await this.reread(row);
      if (current.scan_ref !== row.scan_ref || current.status !== row.status) return view(current);
      const session = await provider.createSession(row.client_id);
      this.d.metrics.verificationProviderCalls.inc({ call: "create" });
      const replaced = await store.replaceSession(this.d.pool, row.id, row.scan_ref, session, this.d.now());
      if (replaced) return view(replaced);
      // A peer replaced it first: its stored state, never this orphaned token.
      return view(await this.reread(row));
    } finally {
      await this.d.locks.release(key, token).catch(() => {});
    }
  }

  private async reread(row: VerificationRow): Promise<VerificationRow> {
    return (await store.byId(this.d.pool, row.id)) ?? row;
  }

  private requireProvider(): VerificationProvider {
    if (!this.d.provider) throw unavailable();
    return this.d.provider;
  }

  private requireLocks(): OwnedLocks {
    if (!this.d.locks)
      throw new AppError("DEPENDENCY_UNAVAILABLE", 503, "Valkey is needed to start a verification");
    return this.d.locks;
  }
}

function view(r: VerificationRow): VerificationView {
  const live = r.status === "in_progress";
  return {
    verificationId: r.id,
    status: r.status,
    authToken: live ? r.auth_token : null,
    redirectUrl: live ? r.redirect_url : null,
    expiresAt: live ? (r.expires_at?.toISOString() ?? null) : null,
    reason: r.status_reason,
  };
}

/** Another reader is re-minting: the status without any token (contract §6). */
const pending = (r: VerificationRow): VerificationView => ({
  verificationId: r.id,
  status: "pending",
  authToken: null,
  redirectUrl: null,
  expiresAt: null,
  reason: null,
});
