import { randomInt } from "node:crypto";
import type { Tunables } from "../app-config/tunables.js";
import { type Clock, secondsUntil } from "../clock.js";
import { type Pool, type PoolClient, type Queryable, withTransaction } from "../db/pool.js";
import { AppError } from "../errors.js";
import { blockError, requestBlock } from "./otp-limits.js";
import type { OtpFlow, OtpProvider } from "./otp-provider.js";
import { normalisePhone } from "./phone.js";
import type { TokenCrypto } from "./token-crypto.js";

export interface OtpIssued {
  requestId: string;
  expiresInSeconds: number;
  resendAfterSeconds: number;
}

export interface OtpDeps {
  pool: Pool;
  crypto: TokenCrypto;
  appConfig: { get(): Promise<Tunables> };
  now: Clock;
  provider: OtpProvider;
  defaultCountryCode: number;
}

/** Advisory-lock namespaces (the two-key form keeps them apart from every single-key lock). */
const PHONE_LOCK = 7101;
const IP_LOCK = 7102;

interface OtpRow {
  phone: string;
  flow: OtpFlow;
  code_hash: Buffer;
  attempts: number;
  expires_at: Date;
  used_at: Date | null;
  voided_at: Date | null;
  deliverable: boolean;
}

/** One-time codes by phone, for customers and mitras (contract §2). */
export class OtpService {
  constructor(private readonly d: OtpDeps) {}

  get provider(): OtpProvider {
    return this.d.provider;
  }

  normalise(phone: string): string {
    return normalisePhone(phone, this.d.defaultCountryCode);
  }

  /**
   * Issues a code. A mitra request for a phone no mitra has is recorded and
   * limited like any other (same answer) but nothing is sent and it never verifies.
   */
  async request(flow: OtpFlow, phoneInput: string, ip: string): Promise<OtpIssued> {
    const phone = this.normalise(phoneInput);
    const t = await this.d.appConfig.get();
    const now = this.d.now();
    const code = randomInt(0, 1_000_000).toString().padStart(6, "0");
    const issued = await withTransaction(this.d.pool, async (tx) => {
      await lock(tx, PHONE_LOCK, phone);
      await lock(tx, IP_LOCK, ip); // always after the phone's, so two requests never wait on each other in a cycle
      const block = await requestBlock(tx, phone, ip, t, now);
      if (block) throw blockError(block, now);
      const deliverable = flow === "customer" || (await mitraExists(tx, phone));
      await tx.query(
        `UPDATE otp_requests SET voided_at = $2
         WHERE phone = $1 AND used_at IS NULL AND voided_at IS NULL AND expires_at > $2`,
        [phone, now],
      );
      const { rows } = await tx.query<{ id: string }>(
        `INSERT INTO otp_requests (phone, flow, code_hash, ip, created_at, expires_at, deliverable)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
        [phone, flow, this.d.crypto.hashCode(code), ip, now, addSeconds(now, t.otp_ttl_seconds), deliverable],
      );
      return { id: (rows[0] as { id: string }).id, deliverable };
    });
    // Sent after COMMIT: the provider is never called for a request that rolled back.
    if (issued.deliverable) await this.d.provider.send(phone, code, flow);
    return {
      requestId: issued.id,
      expiresInSeconds: t.otp_ttl_seconds,
      resendAfterSeconds: t.otp_resend_cooldown_seconds,
    };
  }

  /**
   * Checks a code and, when it is right, runs `signIn` with the proven phone in
   * the same transaction that consumes the code (a failed sign-in leaves the
   * code usable). A wrong code's attempt is committed before CODE_MISMATCH is thrown.
   */
  async verify<T>(
    flow: OtpFlow,
    requestId: string,
    code: string,
    signIn: (tx: PoolClient, phone: string) => Promise<T>,
  ): Promise<T> {
    const t = await this.d.appConfig.get();
    const now = this.d.now();
    const outcome = await withTransaction(this.d.pool, async (tx) => {
      const found = await tx.query<{ phone: string }>("SELECT phone FROM otp_requests WHERE id = $1", [
        requestId,
      ]);
      const phone = found.rows[0]?.phone;
      if (!phone) throw expired();
      // The phone's lock first, as a request takes it before voiding this row: no lock cycle.
      await lock(tx, PHONE_LOCK, phone);
      const { rows } = await tx.query<OtpRow>("SELECT * FROM otp_requests WHERE id = $1 FOR UPDATE", [
        requestId,
      ]);
      const row = rows[0] as OtpRow;
      if (row.flow !== flow)
        throw new AppError("WRONG_FLOW", 400, `This code was requested for a ${row.flow}`);
      if (row.used_at) throw new AppError("OTP_USED", 400, "This code was already used");
      if (row.attempts >= t.otp_max_attempts) {
        const block = await requestBlock(tx, phone, null, t, now);
        throw new AppError("ATTEMPTS_EXCEEDED", 429, "Too many wrong codes; request a new one", {
          retryAfterSeconds: block ? secondsUntil(block.until, now) : 1,
        });
      }
      if (row.voided_at || row.expires_at.getTime() <= now.getTime()) throw expired();
      // Compared even when undeliverable, so an unknown mitra phone costs the same time.
      const matches = this.d.crypto.codeMatches(code, row.code_hash) && row.deliverable;
      if (!matches) {
        await tx.query("UPDATE otp_requests SET attempts = attempts + 1 WHERE id = $1", [requestId]);
        return { ok: false as const, attemptsRemaining: Math.max(0, t.otp_max_attempts - row.attempts - 1) };
      }
      await tx.query("UPDATE otp_requests SET used_at = $2 WHERE id = $1", [requestId, now]);
      return { ok: true as const, value: await signIn(tx, phone) };
    });
    if (!outcome.ok) {
      throw new AppError("CODE_MISMATCH", 400, "Wrong code", {
        attemptsRemaining: outcome.attemptsRemaining,
      });
    }
    return outcome.value;
  }
}

// An unknown request id and a voided or lapsed code need the same thing from the client: a new code.
const expired = (): AppError => new AppError("OTP_EXPIRED", 400, "This code has expired; request a new one");

const addSeconds = (d: Date, s: number): Date => new Date(d.getTime() + s * 1000);

async function lock(tx: Queryable, namespace: number, key: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [namespace, key]);
}

async function mitraExists(tx: Queryable, phone: string): Promise<boolean> {
  const { rows } = await tx.query("SELECT 1 FROM mitras WHERE phone = $1", [phone]);
  return rows.length > 0;
}
