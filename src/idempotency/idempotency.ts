import { createHmac } from "node:crypto";
import type { Principal } from "../auth/user-types.js";
import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import { AppError, type ErrorDetails } from "../errors.js";
import type { Logger } from "../log.js";
import { canonicalHash } from "./canonical-json.js";
import type { ClaimOwner } from "./claim-owner.js";

/** How long a claim holds a key before another attempt may take it over (contract §7). */
export const IDEMPOTENCY_LEASE_SECONDS = 30;
/** How long a key answers with its first result; older rows count as absent and are pruned. */
export const IDEMPOTENCY_TTL_HOURS = 24;

/** The scope a key lives in: the caller and the route, so one key means one request of one user. */
export function idempotencyScope(principal: Pick<Principal, "userType" | "userId">, route: string): string {
  return `${principal.userType}:${principal.userId}:${route}`;
}

export interface IdempotentCall {
  /** From `idempotencyScope(principal, route)`. */
  scope: string;
  /** No key: the call simply runs. */
  key: string | undefined;
  /** What identifies the request (body, path parameters); compared by a hash of its canonical JSON. */
  body: unknown;
}

export interface IdempotencyDeps {
  pool: Pool;
  now: Clock;
  log: Logger;
  /** When set, request hashes are keyed (HMAC), so a body's secrets cannot be guessed from a stored hash. */
  hashSecret?: string;
  /** When set, claims name this process, and a claim of a process known gone is taken over at once. */
  owner?: ClaimOwner;
}

/** What `response_body` holds: the value (as JSON) or the 4xx error that was the first result. */
type Outcome = { value?: unknown } | { error: { code: string; message: string; details: ErrorDetails } };

interface KeyRow {
  request_hash: string;
  state: "in_flight" | "done";
  response_status: number | null;
  response_body: Outcome | null;
  claimed_until: Date;
  created_at: Date;
  owner: number | null;
}

type Claim = { kind: "claimed"; fence: Date } | { kind: "done"; row: KeyRow };

/** A claim this process holds: its fence, and when its work and its store/release are over. */
interface HeldClaim {
  scope: string;
  key: string;
  fence: Date;
  over: Promise<void>;
}

/** Rounds of claim races lost to other attempts before answering "in progress". */
const MAX_CLAIM_ROUNDS = 5;

/**
 * Idempotent retries (contract §7), for every route and frame that creates
 * something. A key is claimed in `idempotency_keys` (state in_flight, a 30 s
 * lease) before the work runs; the result is stored after it. The same key
 * with the same request then answers the first result without a second
 * effect; with another request 422 IDEMPOTENCY_KEY_REUSED; while the first is
 * running 409 REQUEST_IN_PROGRESS.
 *
 * Successes and 4xx errors are kept, except 409 and 429 (conditions that may
 * clear, so a retry must run again). A 5xx or an unknown failure deletes the
 * claim. A claim whose lease lapsed (its process died) is taken over by one
 * conditional UPDATE, so only one retry wins it. The lease end we wrote is
 * the claim's fence: storing or releasing touches the row only while it is
 * still ours.
 *
 * The claim and the work are separate commits: a process that dies after the
 * work committed but before the result was stored leaves a claim that lapses,
 * and a retry after that runs the work again (the use case's own uniqueness,
 * e.g. a taken phone, then answers).
 *
 * Time comes from the injected clock and reaches SQL as a parameter.
 */
export class Idempotency {
  private readonly hashKey: Buffer | undefined;
  /** Claims taken by this process whose result is not kept or released yet. */
  private readonly held = new Set<HeldClaim>();
  /** Set by `settle`: no new claim is taken (the process is stopping). */
  private stopping = false;
  /** Set when `settle` gave up waiting: a claim won after this is released at once. */
  private abandoned = false;

  constructor(private readonly d: IdempotencyDeps) {
    this.hashKey = d.hashSecret
      ? createHmac("sha256", d.hashSecret).update("halo-gateway:idempotency-request").digest()
      : undefined;
  }

  /**
   * Runs `fn` at most once per (scope, key) and request. The value must be
   * JSON data: the first call returns it as a replay would (through JSON), so
   * a caller never depends on something a replay loses.
   */
  async run<T>(opts: IdempotentCall, fn: () => Promise<T>): Promise<T> {
    if (opts.key === undefined) return fn();
    if (this.stopping) throw stopping();
    const { scope, key } = opts;
    const claim = await this.claim(scope, key, this.requestHash(opts.body));
    if (claim.kind === "done") return replay<T>(claim.row);
    if (this.abandoned) {
      await this.release(scope, key, claim.fence);
      throw stopping();
    }

    let over = (): void => {};
    const held: HeldClaim = { scope, key, fence: claim.fence, over: new Promise((r) => (over = r)) };
    this.held.add(held);
    try {
      return await this.runClaimed(held, fn);
    } finally {
      this.held.delete(held);
      over();
    }
  }

  /**
   * Graceful stop (contract §8): takes no new claim, waits up to `deadlineMs`
   * for the claims this process holds to keep their result, then releases
   * the rest. A claim left in flight would answer REQUEST_IN_PROGRESS on
   * every process for its whole 30 s lease although this one exited 0 (fault
   * scenario 5). A released claim whose work is still running when the
   * process exits is the crash case of docs/idempotency.md: its transaction
   * never commits, or the work's own rules answer the retry. Call it while
   * the pool is still open.
   */
  async settle(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.held.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)));
      await Promise.race([Promise.all([...this.held].map((h) => h.over)), late]);
      clearTimeout(timer);
    }
    this.abandoned = true;
    const left = [...this.held];
    if (left.length > 0) this.d.log.warn({ claims: left.length }, "releasing idempotency claims at shutdown");
    await Promise.all(left.map((h) => this.release(h.scope, h.key, h.fence)));
  }

  private async runClaimed<T>(held: HeldClaim, fn: () => Promise<T>): Promise<T> {
    const { scope, key, fence } = held;
    let value: T;
    try {
      value = await fn();
    } catch (err) {
      if (err instanceof AppError && isKept(err.status)) {
        const error = { code: err.code, message: err.message, details: err.details };
        await this.store(scope, key, fence, err.status, { error });
      } else {
        await this.release(scope, key, fence);
      }
      throw err;
    }
    const plain = asJson(value);
    await this.store(scope, key, fence, null, plain === undefined ? {} : { value: plain });
    return plain;
  }

  /** What `request_hash` holds for a request (tests seed claims with it). */
  requestHash(body: unknown): string {
    return canonicalHash(body, this.hashKey);
  }

  private async claim(scope: string, key: string, hash: string): Promise<Claim> {
    for (let round = 0; round < MAX_CLAIM_ROUNDS; round++) {
      const now = this.d.now();
      const owner = this.d.owner?.current ?? null;
      const fence = new Date(now.getTime() + IDEMPOTENCY_LEASE_SECONDS * 1000);
      const inserted = await this.d.pool.query(
        `INSERT INTO idempotency_keys (scope, key, request_hash, state, claimed_until, created_at, owner)
         VALUES ($1, $2, $3, 'in_flight', $4, $5, $6) ON CONFLICT (scope, key) DO NOTHING`,
        [scope, key, hash, fence, now, owner],
      );
      if (inserted.rowCount === 1) return { kind: "claimed", fence };

      const { rows } = await this.d.pool.query<KeyRow>(
        `SELECT request_hash, state, response_status, response_body, claimed_until, created_at, owner
         FROM idempotency_keys WHERE scope = $1 AND key = $2`,
        [scope, key],
      );
      const row = rows[0];
      if (!row) continue; // released between the INSERT and the SELECT: try to insert again

      const staleBefore = new Date(now.getTime() - IDEMPOTENCY_TTL_HOURS * 3_600_000);
      const lapsed = row.state === "in_flight" && row.claimed_until.getTime() <= now.getTime();
      if (row.created_at.getTime() <= staleBefore.getTime() && (row.state === "done" || lapsed)) {
        // Past 24 h the key is free again: the row is replaced, by one taker only.
        const taken = await this.d.pool.query(
          `UPDATE idempotency_keys
           SET request_hash = $3, state = 'in_flight', response_status = NULL, response_body = NULL,
               claimed_until = $4, created_at = $5, owner = $7
           WHERE scope = $1 AND key = $2 AND created_at <= $6
             AND (state = 'done' OR claimed_until <= $5)`,
          [scope, key, hash, fence, now, staleBefore, owner],
        );
        if (taken.rowCount === 1) return { kind: "claimed", fence };
        continue;
      }
      if (row.request_hash !== hash) throw keyReused();
      if (row.state === "done") return { kind: "done", row };
      if (!lapsed && !(await this.ownerGone(row))) throw inProgress();

      // The claimant died (its lease lapsed, or its process is known gone): one retry takes the key
      // over, only from the claim it saw (same fence), so a claim renewed meanwhile is left alone.
      const taken = await this.d.pool.query(
        `UPDATE idempotency_keys SET claimed_until = $3, owner = $5
         WHERE scope = $1 AND key = $2 AND state = 'in_flight' AND claimed_until = $4`,
        [scope, key, fence, row.claimed_until, owner],
      );
      if (taken.rowCount === 1) {
        this.d.log.warn({ scope, key, lapsed }, "idempotency claim of a dead claimant taken over");
        return { kind: "claimed", fence };
      }
    }
    throw inProgress();
  }

  /** Whether an in-flight claim belongs to another process that holds no owner lock any more (kill -9). */
  private async ownerGone(row: KeyRow): Promise<boolean> {
    const mine = this.d.owner;
    if (!mine || row.owner === null || row.owner === mine.id) return false;
    return mine.isGone(row.owner);
  }

  /**
   * Keeps the first result. A failure here is logged, not thrown: the work is
   * done and its caller gets the answer; the claim then lapses like a crash.
   */
  private async store(
    scope: string,
    key: string,
    fence: Date,
    status: number | null,
    outcome: Outcome,
  ): Promise<void> {
    try {
      const r = await this.d.pool.query(
        `UPDATE idempotency_keys SET state = 'done', response_status = $4, response_body = $5
         WHERE scope = $1 AND key = $2 AND state = 'in_flight' AND claimed_until = $3`,
        [scope, key, fence, status, JSON.stringify(outcome)],
      );
      if (r.rowCount !== 1)
        this.d.log.warn({ scope, key }, "idempotency claim lost before its result was kept");
    } catch (err) {
      this.d.log.warn({ scope, key, err: (err as Error).message }, "idempotency result not kept");
    }
  }

  /** Frees the key for a retry (a failure that may clear). If this fails the claim simply lapses. */
  private async release(scope: string, key: string, fence: Date): Promise<void> {
    try {
      await this.d.pool.query(
        `DELETE FROM idempotency_keys
         WHERE scope = $1 AND key = $2 AND state = 'in_flight' AND claimed_until = $3`,
        [scope, key, fence],
      );
    } catch (err) {
      this.d.log.warn({ scope, key, err: (err as Error).message }, "idempotency claim not released");
    }
  }
}

/** 2xx and 4xx results are kept; 409 and 429 are not, as the conflict or the limit may clear. */
const isKept = (status: number): boolean => status >= 400 && status < 500 && status !== 409 && status !== 429;

function replay<T>(row: KeyRow): T {
  const outcome = row.response_body ?? {};
  if ("error" in outcome) {
    const e = outcome.error;
    throw new AppError(e.code, row.response_status ?? 400, e.message, e.details ?? {});
  }
  return outcome.value as T;
}

function asJson<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

const keyReused = (): AppError =>
  new AppError(
    "IDEMPOTENCY_KEY_REUSED",
    422,
    "This Idempotency-Key was already used with a different request",
  );

/** 503 like a Postgres outage: the SDK retries it, and the retry reaches another process. */
const stopping = (): AppError =>
  new AppError("DEPENDENCY_UNAVAILABLE", 503, "This process is shutting down; retry the request");

const inProgress = (): AppError =>
  new AppError("REQUEST_IN_PROGRESS", 409, "A request with this Idempotency-Key is still in progress");
