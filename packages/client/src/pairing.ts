import { ClientCode, HaloError } from "./errors.js";
import { newId } from "./ids.js";
import type { PairingFailReason, ServerEvents } from "./protocol.js";
import { retrying } from "./retry.js";
import type { SessionsApi } from "./sessions.js";
import type { HaloSocket } from "./socket.js";

export type PairingResult =
  | {
      status: "matched";
      requestId: string;
      sessionId: string;
      /** From the `pairing.matched` frame; null when the match was learnt by a read after a reconnect. */
      mitra: { id: string; displayName: string | null } | null;
    }
  | { status: "failed"; requestId: string; reason: PairingFailReason };

/** Half the default offer TTL (30 s): a lost `pairing.matched` is noticed within one offer's life. */
const RECHECK_EVERY_MS = 15_000;

/**
 * One customer's request for a mitra. The `pairing.request` frame carries an
 * idempotency key made once for this intent: a retry after a lost ack (a
 * reconnect, a timeout) returns the same `requestId`, never a second request.
 * The outcome comes from `pairing.matched` / `pairing.failed`, or, after a
 * reconnect (when those frames may have been missed) and every
 * `recheckEveryMs` while it searches, from `GET /api/client/pairing/:requestId`:
 * a `pairing.matched` lost on its way (a process or the fan-out dying just
 * after the accept committed) costs at most that long, not the whole wait.
 */
export class PairingAttempt {
  readonly idempotencyKey: string;
  /** The request's id, once the gateway acked it. */
  readonly requestId: Promise<string>;
  /** Settles once: matched, or failed (NO_MITRA_AVAILABLE, TIMEOUT, CANCELLED). */
  readonly result: Promise<PairingResult>;
  private settle!: (r: PairingResult) => void;
  private fail!: (e: unknown) => void;
  private done = false;
  private readonly offs: (() => void)[] = [];
  private readonly early: PairingResult[] = [];
  private id: string | undefined;
  private recheckTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly socket: HaloSocket,
    private readonly sessions: SessionsApi,
    opts: { idempotencyKey?: string; retryWithinMs?: number; recheckEveryMs?: number } = {},
  ) {
    this.idempotencyKey = opts.idempotencyKey ?? newId();
    this.result = new Promise<PairingResult>((resolve, reject) => {
      this.settle = resolve;
      this.fail = reject;
    });
    // Listening before the frame goes: NO_MITRA_AVAILABLE may come before the ack.
    this.offs.push(
      socket.on("pairing.matched", (f) => this.onOutcome(matched(f))),
      socket.on("pairing.failed", (f) =>
        this.onOutcome({ status: "failed", requestId: f.requestId, reason: f.reason }),
      ),
      socket.on("hello", () => void this.recheck()),
      socket.on("stopped", (s) =>
        this.finish(undefined, new HaloError(ClientCode.closed, `The socket stopped (${s.reason})`)),
      ),
    );
    let tries = 0;
    this.requestId = retrying(
      () => {
        tries++;
        return this.socket.request("pairing.request", { idempotencyKey: this.idempotencyKey });
      },
      { withinMs: opts.retryWithinMs ?? 60_000, cancelled: () => this.done },
    ).then(
      (ack) => {
        this.id = ack.requestId;
        this.recheckWhileSearching(opts.recheckEveryMs ?? RECHECK_EVERY_MS);
        const known = this.early.find((r) => r.requestId === ack.requestId);
        if (known) this.finish(known);
        // A retried request may have ended on a connection that is gone (NO_MITRA_AVAILABLE comes at once).
        else if (tries > 1) void this.recheck();
        return ack.requestId;
      },
      (err: unknown) => {
        this.finish(undefined, err);
        throw err;
      },
    );
    this.requestId.catch(() => {});
    this.result.catch(() => {});
  }

  /** Withdraws the request (`pairing.failed CANCELLED` follows). */
  async cancel(): Promise<void> {
    const requestId = await this.requestId;
    await retrying(() => this.socket.request("pairing.cancel", { requestId }), { withinMs: 30_000 });
  }

  private onOutcome(r: PairingResult): void {
    if (this.id === undefined) this.early.push(r);
    else if (r.requestId === this.id) this.finish(r);
  }

  /** While searching, one read every `everyMs` (a request ends within its max wait, 120 s: a few reads). */
  private recheckWhileSearching(everyMs: number): void {
    if (this.done || everyMs <= 0) return;
    this.recheckTimer = setInterval(() => void this.recheck(), everyMs);
    // Node: a forgotten attempt must not keep the process alive.
    (this.recheckTimer as { unref?: () => void }).unref?.();
  }

  /**
   * Did it end without us hearing? Run after a reconnect, while nothing is
   * heard for a while, and by `resumeFromPush`.
   */
  async recheck(): Promise<void> {
    if (this.id === undefined || this.done) return;
    try {
      const state = await this.sessions.pairing(this.id);
      if (state.status === "matched" && state.sessionId)
        this.finish({
          status: "matched",
          requestId: state.requestId,
          sessionId: state.sessionId,
          mitra: null,
        });
      else if (state.status === "failed" && state.reason)
        this.finish({ status: "failed", requestId: state.requestId, reason: state.reason });
    } catch {
      // The frames, or the next reconnect's read, will tell.
    }
  }

  private finish(r: PairingResult | undefined, err?: unknown): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.recheckTimer);
    for (const off of this.offs) off();
    if (r) this.settle(r);
    else this.fail(err);
  }
}

function matched(f: ServerEvents["pairing.matched"]): PairingResult {
  return { status: "matched", requestId: f.requestId, sessionId: f.sessionId, mitra: f.mitra };
}
