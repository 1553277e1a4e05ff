import { isConnectionError } from "../db/pool.js";
import { AppError, internalError, postgresUnavailable } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * The one place an error becomes an `error` frame: `{type:"error", id?, code,
 * message}` with `retryAfterSeconds` and `issues` at the top level.
 */
export function errorFrame(err: unknown, id: string | number | undefined, log: Logger): string {
  let e: AppError;
  if (err instanceof AppError) e = err;
  else if (isConnectionError(err)) e = postgresUnavailable();
  else {
    log.error({ err }, "unhandled error in a frame handler");
    e = internalError();
  }
  return JSON.stringify({
    type: "error",
    ...(id === undefined ? {} : { id }),
    code: e.code,
    message: e.message,
    ...e.details,
  });
}

export const badFrame = (message: string): AppError => new AppError("BAD_FRAME", 400, message);
