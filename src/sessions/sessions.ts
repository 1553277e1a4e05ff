import type { AppConfigStore } from "../app-config/app-config-store.js";
import type { Principal } from "../auth/user-types.js";
import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { DeadlineTimers } from "../deadline-timers.js";
import { AppError, notFound, validationFailed } from "../errors.js";
import type { Notifier } from "../events/notifier.js";
import type { Logger } from "../log.js";
import { EXTEND_MINUTES } from "../protocol/index.js";
import {
  applyTransition,
  deadlineOf,
  findSession,
  isDue,
  isUuid,
  listOpenSessions,
  openDeadlines,
  openSessionsOf,
  rerouteSessionsOf,
  type SessionRow,
  type SessionStatus,
  type SessionView,
  sessionView,
  type Transition,
} from "./session-store.js";

/** Who acts: a signed-in customer or mitra (an operator is never a party). */
export type Caller = Pick<Principal, "userId" | "userType">;

export interface SessionsDeps {
  pool: Pool;
  now: Clock;
  log: Logger;
  appConfig: Pick<AppConfigStore, "get">;
  notifier: Notifier;
  timers: DeadlineTimers;
  /** Capacity from Postgres into the mirror (`avail.recomputeCapacity`). */
  recomputeCapacity(mitraIds: readonly string[]): Promise<void>;
  /** After a REROUTED ending commits: pair the customer again at once (wired by pairing). */
  onRerouted(customerId: string, sessionId: string): Promise<void>;
}

export { EXTEND_MINUTES };

/** 409 SESSION_STATE, carrying the session's current status (contract §5). */
export const sessionState = (status: SessionStatus): AppError =>
  new AppError("SESSION_STATE", 409, `The session is ${status}`, { status });

/** How often a use case re-reads and retries when its conditional UPDATE lost to another change. */
const ATTEMPTS = 3;

/**
 * The chat-session use cases (contract §5). Every transition is one
 * conditional UPDATE (session-store.ts); only the caller whose UPDATE
 * returned the row runs its effects, after it committed: the timer, the
 * mitra's capacity recomputed from Postgres, and `session.updated` to both
 * parties. A session whose deadline has passed is given its timed ending
 * first, whoever touches it, so no read or action sees it open past its time.
 */
export class Sessions {
  constructor(private readonly d: SessionsDeps) {}

  /** A party's session; anyone else's is 404 (no disclosure). */
  async get(caller: Caller, id: string): Promise<SessionView> {
    return sessionView(await this.load(caller, id));
  }

  /** The caller's open sessions (pending_payment or active), newest first. */
  /** Operators: the open sessions with their state and age (the control center's list). */
  listForOperators(q: Parameters<typeof listOpenSessions>[1]): ReturnType<typeof listOpenSessions> {
    return listOpenSessions(this.d.pool, q, this.d.now());
  }

  async listOpen(caller: Caller): Promise<SessionView[]> {
    if (caller.userType !== "customer" && caller.userType !== "mitra") return [];
    const rows = await openSessionsOf(this.d.pool, caller.userType, caller.userId);
    const now = this.d.now();
    const settled = await Promise.all(rows.map((r) => (isDue(r, now) ? this.settleRow(r) : r)));
    return settled.filter((r) => r.status !== "ended").map(sessionView);
  }

  /** Development payment: pending_payment → active for `session_minutes`; a repeat answers the same session. */
  async confirmPayment(caller: Caller, id: string): Promise<SessionView> {
    requireCustomer(caller);
    const { session_minutes } = await this.d.appConfig.get();
    return this.attempt(caller, id, (row) => {
      if (row.status === "active") return row;
      if (row.status === "ended") throw sessionState(row.status);
      return { kind: "pay", sessionMinutes: session_minutes };
    });
  }

  async extend(caller: Caller, id: string, minutes: number): Promise<SessionView> {
    requireCustomer(caller);
    if (!Number.isInteger(minutes) || minutes < EXTEND_MINUTES.min || minutes > EXTEND_MINUTES.max) {
      throw validationFailed([{ path: "minutes", message: "Must be an integer from 1 to 120" }]);
    }
    return this.attempt(caller, id, (row) => {
      if (row.status !== "active") throw sessionState(row.status);
      return { kind: "extend", minutes };
    });
  }

  /** Either party ends an open session: ENDED_BY_CUSTOMER or ENDED_BY_MITRA. */
  async end(caller: Caller, id: string): Promise<SessionView> {
    const reason = caller.userType === "customer" ? "ENDED_BY_CUSTOMER" : "ENDED_BY_MITRA";
    return this.attempt(caller, id, (row) => {
      if (row.status === "ended") throw sessionState(row.status);
      return { kind: "end", reason, from: row.status };
    });
  }

  /** EXPIRED, if the session is active and its `expires_at` has passed; null when another change got there. */
  expire(id: string): Promise<SessionView | null> {
    return this.timed(id, { kind: "expire" });
  }

  /** PAYMENT_TIMEOUT, if the session still waits for payment past its deadline; null otherwise. */
  paymentTimeout(id: string): Promise<SessionView | null> {
    return this.timed(id, { kind: "paymentTimeout" });
  }

  /**
   * REROUTED: the mitras went offline, stale or deactivated, so every session
   * of theirs still waiting for payment ends, and each customer is paired
   * again at once (`onRerouted`) — they pay once, for the new session.
   */
  async rerouteMitras(mitraIds: readonly string[]): Promise<SessionView[]> {
    const ids = mitraIds.filter(isUuid);
    if (ids.length === 0) return [];
    const rows = await rerouteSessionsOf(this.d.pool, ids, this.d.now());
    await this.settled(rows);
    for (const r of rows) {
      try {
        await this.d.onRerouted(r.customer_id, r.id);
      } catch (err) {
        this.d.log.warn(
          { sessionId: r.id, err: (err as Error).message },
          "re-pairing a rerouted customer failed",
        );
      }
    }
    return rows.map(sessionView);
  }

  /** Pairing committed a new pending_payment session: time its payment and count it against the mitra. */
  async opened(session: { id: string }): Promise<void> {
    const row = await findSession(this.d.pool, session.id);
    if (!row) return;
    const at = deadlineOf(row);
    if (at) this.d.timers.schedule(row.id, at);
    await this.recompute([row.mitra_id]);
  }

  /** At start, before the listeners open: a timer for every open session's deadline. */
  async restoreTimers(): Promise<number> {
    const deadlines = await openDeadlines(this.d.pool);
    for (const { id, at } of deadlines) this.d.timers.schedule(id, at);
    return deadlines.length;
  }

  /**
   * A timer fired: applies the timed ending if it is due. Returns the next
   * deadline when the session is still open (paid or extended meanwhile).
   */
  async onDue(id: string): Promise<Date | null> {
    const row = await findSession(this.d.pool, id);
    if (!row || row.status === "ended") return null;
    const after = isDue(row, this.d.now()) ? await this.settleRow(row) : row;
    return after.status === "ended" ? null : deadlineOf(after);
  }

  /** Effects of endings committed elsewhere (the overdue sweep's batch, reroutes), in one capacity recompute. */
  async settled(rows: readonly SessionRow[]): Promise<void> {
    if (rows.length === 0) return;
    for (const r of rows) this.d.timers.clear(r.id);
    await this.recompute(rows.map((r) => r.mitra_id));
    await Promise.all(rows.map((r) => this.notify(r)));
  }

  /** The session of a party, with its timed ending applied if due; 404 for anyone else. */
  private async load(caller: Caller, id: string): Promise<SessionRow> {
    const row = await findSession(this.d.pool, id);
    if (!row || !isParty(caller, row)) throw notFound("No such session");
    return isDue(row, this.d.now()) ? this.settleRow(row) : row;
  }

  /**
   * Reads the session, lets `decide` pick the transition (or answer at once,
   * or throw), applies it conditionally; when another change won meanwhile,
   * reads again and decides again on the new state.
   */
  private async attempt(
    caller: Caller,
    id: string,
    decide: (row: SessionRow) => Transition | SessionRow,
  ): Promise<SessionView> {
    for (let i = 0; i < ATTEMPTS; i++) {
      const row = await this.load(caller, id);
      const next = decide(row);
      if (!("kind" in next)) return sessionView(next);
      const updated = await applyTransition(this.d.pool, id, next, this.d.now());
      if (updated) {
        await this.committed(updated, next.kind !== "extend");
        return sessionView(updated);
      }
    }
    throw sessionState((await this.load(caller, id)).status);
  }

  private async timed(id: string, t: Transition): Promise<SessionView | null> {
    const row = await applyTransition(this.d.pool, id, t, this.d.now());
    if (!row) return null;
    await this.committed(row, true);
    return sessionView(row);
  }

  /** Applies a due session's timed ending; returns the session as it now stands (whoever ended it). */
  private async settleRow(row: SessionRow): Promise<SessionRow> {
    const t: Transition = row.status === "active" ? { kind: "expire" } : { kind: "paymentTimeout" };
    const ended = await applyTransition(this.d.pool, row.id, t, this.d.now());
    if (ended) {
      await this.committed(ended, true);
      return ended;
    }
    return (await findSession(this.d.pool, row.id)) ?? row;
  }

  /** After a committed change: the timer, the capacity (when the status moved), and both parties told. */
  private async committed(row: SessionRow, statusMoved: boolean): Promise<void> {
    const at = deadlineOf(row);
    if (at) this.d.timers.schedule(row.id, at);
    else this.d.timers.clear(row.id);
    if (statusMoved) await this.recompute([row.mitra_id]);
    await this.notify(row);
  }

  /** The transition stands committed whatever happens here: a failed recompute is healed by the reseed. */
  private async recompute(mitraIds: readonly string[]): Promise<void> {
    try {
      await this.d.recomputeCapacity(mitraIds);
    } catch (err) {
      this.d.log.warn(
        { mitraIds, err: (err as Error).message },
        "capacity recompute failed; the reseed heals it",
      );
    }
  }

  private async notify(row: SessionRow): Promise<void> {
    const frame = { type: "session.updated", session: sessionView(row) };
    await Promise.all([
      this.d.notifier.toUser("customer", row.customer_id, frame),
      this.d.notifier.toUser("mitra", row.mitra_id, frame),
    ]);
  }
}

function isParty(caller: Caller, row: SessionRow): boolean {
  if (caller.userType === "customer") return row.customer_id === caller.userId;
  if (caller.userType === "mitra") return row.mitra_id === caller.userId;
  return false;
}

function requireCustomer(caller: Caller): void {
  if (caller.userType !== "customer") throw new AppError("FORBIDDEN", 403, "Only the customer can do this");
}
