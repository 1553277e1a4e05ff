/**
 * CORS for a control center hosted on another origin (contract §10): only
 * origins listed in CC_ORIGINS, only under `prefix`, with credentials (the
 * cc_refresh cookie). Any other origin gets no CORS headers at all.
 */
export interface CorsPolicy {
  origins: ReadonlySet<string>;
  prefix: string;
}

const ALLOW_HEADERS = "authorization, content-type, idempotency-key, x-request-id";
const ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE";

/** Headers for a request from `origin` to `path`, or null when it gets none. */
export function corsHeaders(
  policy: CorsPolicy | undefined,
  origin: string | undefined,
  path: string,
): Record<string, string> | null {
  if (!policy || !origin || !path.startsWith(policy.prefix) || !policy.origins.has(origin)) return null;
  return {
    "access-control-allow-origin": origin,
    "access-control-allow-credentials": "true",
    vary: "Origin",
  };
}

/** The extra headers of a preflight answer (204). */
export const PREFLIGHT_HEADERS: Readonly<Record<string, string>> = {
  "access-control-allow-methods": ALLOW_METHODS,
  "access-control-allow-headers": ALLOW_HEADERS,
  "access-control-max-age": "600",
};

/** Whether an Origin header names the listener itself (same scheme-less host:port as the Host header). */
export function isSameOrigin(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}
/** The internal listener's policy: CC_ORIGINS, on /internal/** only. */
export const ccCors = (origins: readonly string[]): CorsPolicy => ({
  origins: new Set(origins),
  prefix: "/internal",
});
