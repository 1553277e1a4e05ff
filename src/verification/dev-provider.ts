import { randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import { parseIdenfyCallback } from "./idenfy-provider.js";
import {
  ProviderError,
  type ProviderEvent,
  type ProviderSession,
  type ProviderVerdict,
  type VerificationProvider,
} from "./provider.js";

export interface DevProviderOptions {
  now: Clock;
  /** A session turns approved this long after it was minted (IDENFY_DEV_APPROVE_SECONDS). */
  approveAfterSeconds: number;
}

/** `dev-<minted at, ms, base 36>-<random>`: the scanRef carries all the state there is. */
const SCAN_REF = /^dev-([0-9a-z]{1,12})-[0-9a-f]{16}$/;

/** Where a token "would" be used. Nothing serves it: the development flow approves by time alone. */
const REDIRECT_BASE = "http://127.0.0.1/dev-verification";

/**
 * The development provider (IDENFY_DEV_MODE=true): `npm start` shows the whole
 * flow without an iDenfy account. A session is in_progress until
 * `approveAfterSeconds` after it was minted, then approved. It keeps no memory:
 * the mint time travels in the scanRef, so any process, and a restarted one,
 * answers the same for it.
 */
export class DevProvider implements VerificationProvider {
  readonly name = "dev";
  private readonly now: Clock;
  private readonly approveAfterMs: number;

  constructor(opts: DevProviderOptions) {
    this.now = opts.now;
    this.approveAfterMs = opts.approveAfterSeconds * 1000;
  }

  async createSession(_clientId: string): Promise<ProviderSession> {
    const mintedAt = this.now().getTime();
    const scanRef = `dev-${mintedAt.toString(36)}-${randomBytes(8).toString("hex")}`;
    const authToken = `dev${randomBytes(18).toString("hex")}`;
    return {
      scanRef,
      authToken,
      redirectUrl: `${REDIRECT_BASE}?authToken=${authToken}`,
      // Never before approval, so a caller that re-mints on expiry cannot keep a session from approving.
      expiresAt: new Date(mintedAt + this.approveAfterMs + 3_600_000),
    };
  }

  async getStatus(scanRef: string): Promise<ProviderVerdict> {
    const m = SCAN_REF.exec(scanRef);
    if (!m?.[1]) throw new ProviderError("the development provider did not mint this scanRef");
    const mintedAt = Number.parseInt(m[1], 36);
    const approved = this.now().getTime() >= mintedAt + this.approveAfterMs;
    return { status: approved ? "approved" : "in_progress", reason: null };
  }

  /** The iDenfy webhook body, so a signed webhook can be tried by hand in development too. */
  parseWebhook(body: unknown): ProviderEvent {
    return parseIdenfyCallback(body);
  }
}
