/*
 * What the adapters that call a provider over HTTP (iDenfy, FCM and its
 * OAuth2 token endpoint) say about a failed call, without the URL or
 * anything it carried.
 */

/** The fetch gave up on its AbortSignal.timeout (or was aborted). */
export function isTimeout(err: unknown): boolean {
  const name = (err as Error).name;
  return name === "TimeoutError" || name === "AbortError";
}

/** The socket error behind a failed fetch (ECONNREFUSED, ENOTFOUND, …), when there is one. */
export function socketErrorCode(err: unknown): string | undefined {
  return (err as { cause?: { code?: string } }).cause?.code;
}

/** Why a fetch failed, in one word: "timeout", the socket error code, or the error's name. */
export function networkCause(err: unknown): string {
  if (isTimeout(err)) return "timeout";
  return socketErrorCode(err) ?? (err as Error).name ?? "error";
}

/**
 * ` (CODE)` from a JSON error body's `field` (iDenfy's `identifier`, OAuth2's
 * `error`) when it is a plausible code matching `pattern`, else "": a body is
 * never echoed whole (it could carry a token).
 */
export function errorCodeIn(text: string, field: string, pattern: RegExp): string {
  try {
    const code = (JSON.parse(text) as Record<string, unknown>)[field];
    return typeof code === "string" && pattern.test(code) ? ` (${code})` : "";
  } catch {
    return "";
  }
}
