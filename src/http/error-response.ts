import { isConnectionError } from "../db/pool.js";
import { AppError, internalError, postgresUnavailable } from "../errors.js";
import type { Logger } from "../log.js";
import type { HttpResponse } from "./types.js";

/** The one place an error becomes HTTP (contract §1). Unknown failures are logged, never shown. */
export function errorResponse(err: unknown, log: Logger, requestId: string): HttpResponse {
  let e: AppError;
  if (err instanceof AppError) {
    e = err;
  } else if (isConnectionError(err)) {
    log.warn({ requestId, err: (err as Error).message }, "postgres unavailable");
    e = postgresUnavailable();
  } else {
    log.error({ requestId, err }, "unhandled error");
    e = internalError();
  }
  const headers: Record<string, string> = {};
  if (e.details.retryAfterSeconds !== undefined) headers["retry-after"] = String(e.details.retryAfterSeconds);
  return { status: e.status, headers, body: { error: { code: e.code, message: e.message, ...e.details } } };
}
