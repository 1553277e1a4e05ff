/**
 * Every failure the SDK reports is a HaloError: the contract's `code`, the
 * HTTP status when there was one, and the extra fields the contract names.
 * Failures the server never answered get codes of the SDK's own (below), so
 * a caller switches on one field.
 */
export interface Issue {
  path: string;
  message: string;
}

/** Codes the SDK itself gives, for failures the server did not answer. */
export const ClientCode = {
  /** The request never got an answer: connection refused, reset, DNS, a dropped response. */
  network: "NETWORK_ERROR",
  /** No answer within the timeout. */
  timeout: "TIMEOUT",
  /** The socket closed while the frame waited for its answer (the server may or may not have run it). */
  connectionLost: "CONNECTION_LOST",
  /** The socket was stopped (close(), a revoked session, signed out). */
  closed: "SOCKET_CLOSED",
  /** There are no tokens: sign in first. */
  notSignedIn: "NOT_SIGNED_IN",
  /** The server answered something that is not the contract's JSON. */
  badResponse: "BAD_RESPONSE",
} as const;

/** Refresh answers that end the auth session: the tokens are dropped, never retried. */
export const SESSION_ENDING_CODES: ReadonlySet<string> = new Set([
  "REFRESH_INVALID",
  "REFRESH_EXPIRED",
  "REFRESH_REUSED",
  "SESSION_REVOKED",
  "ACCOUNT_INACTIVE",
]);

export class HaloError extends Error {
  readonly code: string;
  /** HTTP status, when the answer came over HTTP. */
  readonly status: number | undefined;
  readonly retryAfterSeconds: number | undefined;
  readonly attemptsRemaining: number | undefined;
  readonly issues: Issue[] | undefined;
  /** On SESSION_STATE: the session's current status. */
  readonly sessionStatus: string | undefined;

  constructor(
    code: string,
    message: string,
    opts: {
      status?: number;
      retryAfterSeconds?: number;
      attemptsRemaining?: number;
      issues?: Issue[];
      sessionStatus?: string;
      cause?: unknown;
    } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = "HaloError";
    this.code = code;
    this.status = opts.status;
    this.retryAfterSeconds = opts.retryAfterSeconds;
    this.attemptsRemaining = opts.attemptsRemaining;
    this.issues = opts.issues;
    this.sessionStatus = opts.sessionStatus;
  }

  /** Worth trying again with the same idempotency key: the server did not refuse it for good. */
  get retryable(): boolean {
    if (
      this.code === ClientCode.network ||
      this.code === ClientCode.timeout ||
      this.code === ClientCode.connectionLost
    )
      return true;
    if (this.code === "REQUEST_IN_PROGRESS" || this.code === "RATE_LIMITED") return true;
    if (this.code === "DEPENDENCY_UNAVAILABLE" || this.code === "INTERNAL" || this.code === "BUSY")
      return true;
    return this.status !== undefined && (this.status === 429 || this.status >= 500);
  }
}

/** An error body (`{error:{…}}` over HTTP, or an `error` frame) → HaloError. */
export function errorFromBody(body: unknown, status?: number): HaloError {
  const e = (body ?? {}) as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const num = (v: unknown): number | undefined => (typeof v === "number" ? v : undefined);
  return new HaloError(str(e.code) ?? ClientCode.badResponse, str(e.message) ?? "Request failed", {
    ...(status === undefined ? {} : { status }),
    ...(num(e.retryAfterSeconds) === undefined ? {} : { retryAfterSeconds: num(e.retryAfterSeconds) }),
    ...(num(e.attemptsRemaining) === undefined ? {} : { attemptsRemaining: num(e.attemptsRemaining) }),
    ...(Array.isArray(e.issues) ? { issues: e.issues as Issue[] } : {}),
    ...(str(e.status) === undefined ? {} : { sessionStatus: str(e.status) }),
  });
}
