import type { AppConfigStore } from "../app-config/app-config-store.js";
import type { Clock } from "../clock.js";
import { type Pool, type PoolClient, withTransaction } from "../db/pool.js";
import { DeadlineTimers } from "../deadline-timers.js";
import { AppError, notFound } from "../errors.js";
import type { Notifier, OutFrame } from "../events/notifier.js";
import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import type { AcceptRace } from "./accept-race.js";
import type { AvailablePicker } from "./available-picker.js";
import { matchedFrameOf, offerFrameOf } from "./outgoing-frames.js";
import type { PairingView, RequestRow } from "./pairing-store.js";
import * as store from "./pairing-store.js";

/** The part of a new session pairing reads. */
export interface OpenedSession {
  id: string;
  mitraId: string;
}

/** What pairing needs of the session side: create the session inside the accept, then start its life. */
export interface SessionPort {
  createPending(
    tx: PoolClient,
    p: {
      customerId: string;
      mitraId: string;
      pairingRequestId: string;
      now: Date;
      paymentTimeoutSeconds: number;
    },
  ): Promise<OpenedSession>;
  opened(session: OpenedSession): Promise<void>;
}

export interface PairingDeps {
  pool: Pool;
  valkey: ValkeyClient | null;
  keys: Keys;
  log: Logger;
  metrics: Metrics;
  now: Clock;
  appConfig: AppConfigStore;
  notifier: Notifier;
  picker: AvailablePicker;
  race: AcceptRace;
  sessions: SessionPort;
}

/** While no new mitra turns up, how often a searching request looks again (capped by the offer TTL). */
const EMPTY_BATCH_RETRY_MS = 5000;

const atCapacity = (): AppError => new AppError("AT_CAPACITY", 409, "You are at capacity");
const taken = (): AppError => new AppError("PAIRING_TAKEN", 409, "Another mitra took this request");

/**
 * Pairing (contract §5): a customer's request is offered to batches of
 * available mitras; the first accept wins, exactly once across processes.
 *
 * Postgres holds each request's state, batch number and next deadline, so
 * any process can carry a request on: the one that started it keeps an
 * in-process timer, and the pairing sweep advances requests whose deadline
 * passed with nobody acting (their process died). Every step is a
 * conditional write on the state (and batch) it saw, so two actors never
 * apply one step twice.
 */
export class Pairing {
  private readonly timers: DeadlineTimers;

  constructor(private readonly d: PairingDeps) {
    // advance() sets the next timer itself (dispatch knows the next batch's deadline).
    this.timers = new DeadlineTimers({
      now: d.now,
      log: d.log,
      onDue: async (id) => {
        await this.advance(id);
        return null;
      },
    });
  }

  /** pairing.request: a new request, then its first batch (retries with a key go through the idempotency module). */
  async request(customerId: string): Promise<{ requestId: string }> {
    const started = process.hrtime.bigint();
    const now = this.d.now();
    const t = await this.d.appConfig.get();
    const created = await withTransaction(this.d.pool, async (tx) => {
      // One request at a time per customer: serialise this customer's requests.
      await tx.query("SELECT pg_advisory_xact_lock(7401, hashtext($1))", [customerId]);
      if (await store.hasOpenSession(tx, customerId))
        throw new AppError("SESSION_OPEN", 409, "You already have an open session");
      try {
        const row = await store.insertRequest(tx, {
          customerId,
          now,
          deadlineAt: new Date(now.getTime() + t.pairing_max_wait_seconds * 1000),
        });
        return row.id;
      } catch (err) {
        if ((err as { code?: string }).code === "23505")
          throw new AppError("PAIRING_IN_PROGRESS", 409, "A pairing request is already in progress");
        throw err;
      }
    });
    await this.dispatch(created, 0, true);
    this.d.metrics.pairingSteps.observe(
      { step: "request_to_offer" },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    return { requestId: created };
  }

  /** A rerouted customer is paired again at once, without asking (contract §5). */
  async repair(customerId: string): Promise<void> {
    try {
      await this.request(customerId);
    } catch (err) {
      this.d.log.warn(
        { err: (err as Error).message, customerId },
        "could not pair a rerouted customer again",
      );
    }
  }

  async status(customerId: string, requestId: string): Promise<PairingView> {
    const row = await store.loadRequest(this.d.pool, requestId);
    if (!row || row.customer_id !== customerId) throw notFound("No such pairing request");
    return store.pairingView(row);
  }

  /** pairing.accept: the first accept wins; later ones get PAIRING_TAKEN, a full mitra AT_CAPACITY. */
  async accept(mitraId: string, requestId: string): Promise<{ sessionId: string }> {
    const started = process.hrtime.bigint();
    const now = this.d.now();
    const req = await store.loadRequest(this.d.pool, requestId);
    const offer = req ? await store.loadOffer(this.d.pool, requestId, mitraId) : null;
    if (!req || !offer) throw notFound("No such offer");
    if (req.status === "matched" && req.matched_mitra_id === mitraId && req.session_id)
      return { sessionId: req.session_id }; // a retry of the accept that won
    if (req.status !== "searching" || offer.outcome !== null || offer.expires_at <= now) throw taken();

    // A full mitra must not hold the claim even briefly: the accepts racing it would be told
    // PAIRING_TAKEN and drop their offers, while the request goes on (seen in the fault suite).
    if (await store.isFull(this.d.pool, mitraId)) {
      await this.closeOffer(mitraId, requestId);
      throw atCapacity();
    }
    // The race is settled in Valkey first (one Lua call), so losers never reach the transaction;
    // the conditional write below confirms it (and alone decides while Valkey is down).
    if (!(await this.d.race.claim(requestId, mitraId))) throw taken();
    // Read before the transaction: a cache refill inside it waits for a second pool client while
    // holding one, and under load every client was held that way until the 2 s connect timeout
    // answered DEPENDENCY_UNAVAILABLE with Postgres up (fault scenario 4, docs/faults.md).
    const { payment_timeout_seconds: paymentTimeoutSeconds } = await this.d.appConfig.get();
    let outcome: { session: OpenedSession; losers: string[]; customerId: string };
    try {
      outcome = await withTransaction(this.d.pool, async (tx) => {
        const m = await tx.query<{ max: number; open: number }>(
          `SELECT m.max_concurrent_sessions AS max,
                  (SELECT count(*)::int FROM chat_sessions s
                   WHERE s.mitra_id = m.id AND s.status IN ('active', 'pending_payment')) AS open
           FROM mitras m WHERE m.id = $1 FOR UPDATE`,
          [mitraId],
        );
        const cap = m.rows[0];
        if (!cap) throw notFound("No such mitra");
        if (cap.open >= cap.max) throw atCapacity();
        const matched = await store.markMatched(tx, requestId, mitraId, now);
        if (!matched) throw taken();
        const session = await this.d.sessions.createPending(tx, {
          customerId: matched.customer_id,
          mitraId,
          pairingRequestId: requestId,
          now,
          paymentTimeoutSeconds,
        });
        await tx.query("UPDATE pairing_requests SET session_id = $2 WHERE id = $1", [requestId, session.id]);
        await store.setOfferOutcome(tx, requestId, mitraId, "accepted");
        const losers = await store.closeOpenOffers(tx, requestId, "taken");
        return { session, losers, customerId: matched.customer_id };
      });
    } catch (err) {
      // The request goes on: another mitra may still win it.
      await this.d.race.release(requestId, mitraId);
      // A full mitra cannot take it: its offer is closed as a decline would, so a batch whose every
      // holder is full (many requests offered to the same few mitras while Valkey was down, each
      // winning one) moves on at once instead of waiting out the offer TTL.
      if (err instanceof AppError && err.code === "AT_CAPACITY") await this.closeOffer(mitraId, requestId);
      void this.offerAgain(requestId, mitraId);
      throw err;
    }
    this.timers.clear(requestId);
    await this.d.sessions.opened(outcome.session);
    const mitraName = await store.displayNameOf(this.d.pool, "mitras", mitraId);
    const matchedFrame = matchedFrameOf(requestId, outcome.session.id, mitraId, mitraName);
    await Promise.all([
      this.d.notifier.toUser("customer", outcome.customerId, matchedFrame),
      this.d.notifier.toUser("mitra", mitraId, matchedFrame),
      ...outcome.losers.map((id) =>
        this.d.notifier.toUser("mitra", id, { type: "pairing.taken", requestId }),
      ),
    ]);
    this.d.metrics.pairingLatency.observe((now.getTime() - req.created_at.getTime()) / 1000);
    this.d.metrics.pairingSteps.observe(
      { step: "accept_to_match" },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    return { sessionId: outcome.session.id };
  }

  /** pairing.decline: this mitra is never offered the request again; a batch all declined moves on at once. */
  async decline(mitraId: string, requestId: string): Promise<Record<string, never>> {
    const offer = await store.loadOffer(this.d.pool, requestId, mitraId);
    if (!offer) throw notFound("No such offer");
    await this.closeOffer(mitraId, requestId);
    return {};
  }

  /** Closes one mitra's offer as declined; the batch's last open offer closed offers the next batch. */
  private async closeOffer(mitraId: string, requestId: string): Promise<void> {
    if (!(await store.setOfferOutcome(this.d.pool, requestId, mitraId, "declined"))) return;
    const req = await store.loadRequest(this.d.pool, requestId);
    if (req?.status === "searching" && (await store.openOfferCount(this.d.pool, requestId)) === 0)
      await this.dispatch(requestId, req.batch, false);
  }

  /** pairing.cancel: `pairing.failed CANCELLED` to the customer, `pairing.taken` to every mitra holding an offer. */
  async cancel(customerId: string, requestId: string): Promise<Record<string, never>> {
    const now = this.d.now();
    const result = await withTransaction(this.d.pool, async (tx) => {
      const req = await store.loadRequest(tx, requestId, true);
      if (!req || req.customer_id !== customerId) throw notFound("No such pairing request");
      if (req.status === "matched")
        throw new AppError("SESSION_OPEN", 409, "This request already has a session");
      if (!(await store.endRequest(tx, requestId, "cancelled", "CANCELLED", now))) return null;
      return store.closeOpenOffers(tx, requestId, "taken");
    });
    if (result) await this.announceEnd(requestId, customerId, "CANCELLED", result);
    return {};
  }

  /** A due batch or wait (timer or sweep): lapse the batch and offer the next, or fail with TIMEOUT. */
  async advance(requestId: string): Promise<void> {
    const req = await store.loadRequest(this.d.pool, requestId);
    if (req?.status !== "searching") return this.timers.clear(requestId);
    const now = this.d.now();
    if (req.deadline_at <= now) return this.fail(req, "TIMEOUT");
    if (req.next_batch_at && req.next_batch_at > now) return this.timers.schedule(requestId, nextDue(req));
    await this.dispatch(requestId, req.batch, false);
  }

  /** Timers of the searching requests, restored at start (the sweep covers the rest). */
  async restoreTimers(): Promise<void> {
    for (const req of await store.searchingRequests(this.d.pool)) this.timers.schedule(req.id, nextDue(req));
  }

  stop(): void {
    this.timers.stop();
  }

  /**
   * The `pairing.offer` frames these mitras should still hold, identical to
   * the first send (same requestId and expiresAt), to send again: an offer
   * sent fire-and-forget after its commit is lost when the fan-out or the
   * mitra's process dies at that moment, and would cost the customer a whole
   * offer TTL (docs/sessions.md, "Frames sent again").
   */
  async openOffers(mitraIds: readonly string[]): Promise<{ mitraId: string; frame: OutFrame }[]> {
    if (mitraIds.length === 0) return [];
    const rows = await store.openOffersOf(this.d.pool, { mitraIds }, this.d.now());
    return rows.map((r) => ({
      mitraId: r.mitra_id,
      frame: offerFrameOf(r.request_id, r.customer_name, r.expires_at),
    }));
  }

  /**
   * After a claim was given back: the accepts that raced it were told
   * PAIRING_TAKEN and their apps dropped the offer, though the request is
   * still open, so its open offers are sent again (the SDK hears an offer
   * again once its accept was told PAIRING_TAKEN; a holder that never tried
   * hears it once). Best effort: the offer TTL still moves the request on.
   */
  private async offerAgain(requestId: string, exceptMitraId: string): Promise<void> {
    try {
      const rows = await store.openOffersOf(this.d.pool, { requestId }, this.d.now());
      await Promise.all(
        rows
          .filter((r) => r.mitra_id !== exceptMitraId)
          .map((r) =>
            this.d.notifier.toUser(
              "mitra",
              r.mitra_id,
              offerFrameOf(requestId, r.customer_name, r.expires_at),
            ),
          ),
      );
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message, requestId }, "could not send a released offer again");
    }
  }

  /** `pairing.matched` again for customers whose match still waits for payment: the first may never have arrived. */
  async pendingMatches(customerIds: readonly string[]): Promise<{ customerId: string; frame: OutFrame }[]> {
    if (customerIds.length === 0) return [];
    const rows = await store.pendingMatchesOf(this.d.pool, customerIds);
    return rows.map((m) => ({
      customerId: m.customer_id,
      frame: matchedFrameOf(m.request_id, m.session_id, m.mitra_id, m.mitra_name),
    }));
  }

  /**
   * Offers the next batch, if the request is still at `seenBatch`. The first
   * batch finding nobody fails the request with NO_MITRA_AVAILABLE at once;
   * a later empty batch keeps looking until the maximum wait.
   */
  private async dispatch(requestId: string, seenBatch: number, first: boolean): Promise<void> {
    const now = this.d.now();
    const t = await this.d.appConfig.get();
    const excluded = await store.offeredMitras(this.d.pool, requestId);
    const picked = await this.d.picker.pick(t.pairing_blast_size, excluded);
    const req0 = await store.loadRequest(this.d.pool, requestId);
    if (req0?.status !== "searching") return;
    if (picked.length === 0 && first) return this.fail(req0, "NO_MITRA_AVAILABLE");
    const ttlMs = t.pairing_offer_ttl_seconds * 1000;
    const expiresAt = new Date(now.getTime() + ttlMs);
    const nextAt =
      picked.length > 0 ? expiresAt : new Date(now.getTime() + Math.min(ttlMs, EMPTY_BATCH_RETRY_MS));
    const step = await withTransaction(this.d.pool, async (tx) => {
      const req = await store.advanceBatch(tx, requestId, seenBatch, nextAt);
      if (!req) return null; // another process moved it on, or it ended
      const lapsed = await store.closeOpenOffers(tx, requestId, "lapsed");
      await store.insertOffers(tx, requestId, picked, now, expiresAt);
      return { req, lapsed };
    });
    if (!step) return;
    this.timers.schedule(requestId, nextDue(step.req));
    const customerName = await store.displayNameOf(this.d.pool, "customers", step.req.customer_id);
    await Promise.all([
      ...step.lapsed.map((id) => this.d.notifier.toUser("mitra", id, { type: "pairing.taken", requestId })),
      ...picked.map((id) =>
        this.d.notifier.toUser("mitra", id, offerFrameOf(requestId, customerName, expiresAt)),
      ),
    ]);
  }

  private async fail(req: RequestRow, reason: "TIMEOUT" | "NO_MITRA_AVAILABLE"): Promise<void> {
    const now = this.d.now();
    const holders = await withTransaction(this.d.pool, async (tx) => {
      if (!(await store.endRequest(tx, req.id, "failed", reason, now))) return null;
      return store.closeOpenOffers(tx, req.id, "taken");
    });
    if (!holders) return;
    this.d.metrics.pairingLatency.observe((now.getTime() - req.created_at.getTime()) / 1000);
    await this.announceEnd(req.id, req.customer_id, reason, holders);
  }

  private async announceEnd(
    requestId: string,
    customerId: string,
    reason: string,
    holders: string[],
  ): Promise<void> {
    this.timers.clear(requestId);
    await Promise.all([
      this.d.notifier.toUser("customer", customerId, { type: "pairing.failed", requestId, reason }),
      ...holders.map((id) => this.d.notifier.toUser("mitra", id, { type: "pairing.taken", requestId })),
    ]);
  }
}

/** The next moment a request needs attention: its next batch, or the end of its wait. */
const nextDue = (r: RequestRow): Date =>
  r.next_batch_at && r.next_batch_at < r.deadline_at ? r.next_batch_at : r.deadline_at;
