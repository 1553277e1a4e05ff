import type { Logger } from "../log.js";

export type OtpFlow = "customer" | "mitra";

/** Delivers a code to a phone (SMS, WhatsApp, …). Called after the request is committed. */
export interface OtpProvider {
  send(phone: string, code: string, flow: OtpFlow): Promise<void>;
  /** The last code sent to a phone by this process, when the provider keeps them (test route). */
  lastCode(phone: string): string | undefined;
}

/** Phones remembered at most, so a long-running process with test routes on stays bounded. */
const REMEMBERED_PHONES = 10_000;

/**
 * The `log` provider (contract §2): "delivery" is a log line a developer
 * reads. Delivery is its whole job, so the code goes in `code`, a field the
 * logger leaves alone; `otpCode` stays redacted for accidental logging
 * elsewhere. With `remember`, it also keeps the last code per phone in memory
 * for GET /internal/_test/otp (one process's memory: ask the process that sent it).
 */
export class LogOtpProvider implements OtpProvider {
  private readonly last = new Map<string, string>();

  constructor(
    private readonly log: Logger,
    private readonly remember: boolean,
  ) {}

  async send(phone: string, code: string, flow: OtpFlow): Promise<void> {
    this.log.info({ phone, flow, code }, "otp code (log provider)");
    if (!this.remember) return;
    // Re-insert so the Map's insertion order is least-recently-sent first.
    this.last.delete(phone);
    this.last.set(phone, code);
    if (this.last.size > REMEMBERED_PHONES) {
      const oldest = this.last.keys().next().value;
      if (oldest !== undefined) this.last.delete(oldest);
    }
  }

  lastCode(phone: string): string | undefined {
    return this.last.get(phone);
  }
}
