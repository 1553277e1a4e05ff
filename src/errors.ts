/**
 * The one error class. Thrown where a failure is known; mapped to JSON (HTTP)
 * or an error frame (WebSocket) in exactly one place per door.
 */
export interface Issue {
  path: string;
  message: string;
}

export interface ErrorDetails {
  retryAfterSeconds?: number;
  attemptsRemaining?: number;
  issues?: Issue[];
  /** The session's current status, on 409 SESSION_STATE. */
  status?: string;
}

export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = "AppError";
  }
}

export const validationFailed = (issues: Issue[], message = "Request failed validation"): AppError =>
  new AppError("VALIDATION_FAILED", 400, message, { issues });

export const notFound = (message = "Not found"): AppError => new AppError("NOT_FOUND", 404, message);

export const dependencyUnavailable = (what: string): AppError =>
  new AppError("DEPENDENCY_UNAVAILABLE", 503, `${what} is unavailable`);

/**
 * Postgres unreachable for this request: 503 with `retryAfterSeconds` (and a
 * Retry-After header). Without it clients back off on their own curve (the
 * SDK's grows to 5 s), so after an outage the last of them came back up to
 * 5 s after Postgres did (fault suite, scenario 3); with it they ask again
 * every 1–2 s (the SDK adds up to one more interval of jitter).
 */
export const POSTGRES_RETRY_AFTER_SECONDS = 1;
export const postgresUnavailable = (): AppError =>
  new AppError("DEPENDENCY_UNAVAILABLE", 503, "Postgres is unavailable", {
    retryAfterSeconds: POSTGRES_RETRY_AFTER_SECONDS,
  });

export const internalError = (): AppError => new AppError("INTERNAL", 500, "Internal error");

/** Zod issues → contract issues (`path` joined with dots, "" for the root). */
export function issuesFromZod(issues: readonly { path: readonly PropertyKey[]; message: string }[]): Issue[] {
  return issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message }));
}
