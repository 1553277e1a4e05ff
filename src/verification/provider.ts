import { AppError } from "../errors.js";

/** A verification's status as halo-gateway keeps it (contract §6). approved, denied, suspected are terminal. */
export type VerificationStatus = "in_progress" | "approved" | "denied" | "suspected" | "expired";

export const TERMINAL: ReadonlySet<VerificationStatus> = new Set(["approved", "denied", "suspected"]);

/** A provider session just minted for a client. */
export interface ProviderSession {
  scanRef: string;
  authToken: string;
  redirectUrl: string;
  /** When the provider stops accepting this session's token. */
  expiresAt: Date;
}

/** What the provider says of a session now. */
export interface ProviderVerdict {
  status: VerificationStatus;
  /** The provider's own words for a denial or suspicion (e.g. iDenfy's fraud or mismatch tags), when it gives any. */
  reason: string | null;
}

/** A webhook the provider sent, already authenticated and parsed. */
export interface ProviderEvent extends ProviderVerdict {
  scanRef: string;
}

/**
 * The identity-verification provider behind one interface (contract §6):
 * iDenfy, or the development provider. Every call has a timeout; any
 * failure or unexpected answer is a ProviderError, never a raw exception.
 */
export interface VerificationProvider {
  readonly name: string;
  createSession(clientId: string): Promise<ProviderSession>;
  getStatus(scanRef: string): Promise<ProviderVerdict>;
  /** Parses an authenticated webhook body; throws AppError 400 VALIDATION_FAILED for a body it cannot read. */
  parseWebhook(body: unknown): ProviderEvent;
}

/** The provider failed, timed out or answered something unexpected: 502 to the caller, state unchanged. */
export class ProviderError extends AppError {
  constructor(message: string) {
    super("VERIFICATION_PROVIDER_ERROR", 502, message);
  }
}
