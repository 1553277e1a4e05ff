/** The operator's refresh token travels only in this cookie (contract §2), never in a body. */
export const REFRESH_COOKIE = "cc_refresh";
/** Sent back only to the auth routes that need it (refresh, logout), not to every /internal call. */
export const REFRESH_COOKIE_PATH = "/internal/auth";

export interface CookiePolicy {
  /** Secure everywhere but local development over plain http. */
  secure: boolean;
  maxAgeSeconds: number;
}

export function refreshCookie(token: string, policy: CookiePolicy): string {
  return serialise(token, policy.maxAgeSeconds, policy.secure);
}

/** The same cookie, expired: the browser drops it. */
export function clearedRefreshCookie(policy: Pick<CookiePolicy, "secure">): string {
  return serialise("", 0, policy.secure);
}

function serialise(value: string, maxAgeSeconds: number, secure: boolean): string {
  const parts = [
    `${REFRESH_COOKIE}=${value}`,
    "HttpOnly",
    "SameSite=Strict",
    `Path=${REFRESH_COOKIE_PATH}`,
    `Max-Age=${maxAgeSeconds}`,
  ];
  if (secure) parts.push("Secure");
  return parts.join("; ");
}

/**
 * The value of cookie `name` in a Cookie header, or undefined. With the same
 * name twice (cookies of different paths), the first is the most specific
 * path (RFC 6265 §5.4) and wins.
 */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    if (pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}
