/**
 * The operator's auth session in this tab. The access token lives in this
 * module's memory only (never in storage); the HttpOnly `cc_refresh` cookie
 * restores it after a reload. The token is refreshed over HTTP well before it
 * expires (at 80 % of its lifetime; earlier for short ones), one refresh at a
 * time, and every refresh is announced so the socket can swap it in-band
 * (`auth.refresh`).
 */
import { signal } from "@preact/signals";
import { ApiError, type RequestOptions, request } from "./api";
import type { Operator, SignedIn } from "./types";

export type AuthState =
  | { kind: "loading" }
  | { kind: "signed-out"; reason?: string }
  | { kind: "signed-in"; user: Operator };

export const auth = signal<AuthState>({ kind: "loading" });

let accessToken: string | null = null;
let expiresAtMs = 0;
let refreshAtMs = 0;
let timer: ReturnType<typeof setTimeout> | undefined;
let inflight: Promise<string> | null = null;
/** Bumped on every sign-in and sign-out: a refresh that started in an older session is ignored. */
let epoch = 0;

const tokenListeners = new Set<(token: string) => void>();
const endListeners = new Set<() => void>();

/** Called with every new access token (after a refresh): the socket swaps it in-band. */
export function onTokenChange(fn: (token: string) => void): () => void {
  tokenListeners.add(fn);
  return () => tokenListeners.delete(fn);
}

/** Called when the session ends (sign-out, revocation, refresh refused). */
export function onSessionEnd(fn: () => void): () => void {
  endListeners.add(fn);
  return () => endListeners.delete(fn);
}

export const currentUser = (): Operator | null => (auth.value.kind === "signed-in" ? auth.value.user : null);
export const isAdmin = (): boolean => currentUser()?.role === "admin";

/** The access token, refreshed first when it is gone or expires within `marginMs`. */
export async function freshToken(marginMs = 5000): Promise<string> {
  if (accessToken && Date.now() < expiresAtMs - marginMs) return accessToken;
  return refresh();
}

/** Keeps the token of a sign-in, login-like link answer or refresh. */
export function establish(res: SignedIn): void {
  const wasSignedIn = auth.value.kind === "signed-in";
  if (!wasSignedIn) epoch++;
  accessToken = res.accessToken;
  const ttlMs = Math.max(1, res.expiresIn) * 1000;
  expiresAtMs = Date.now() + ttlMs;
  // A fifth of the lifetime early (12 min for an hour: room for a throttled background tab), and for
  // short lifetimes at least half or a minute early, whichever is less, so a slow answer still lands in time.
  refreshAtMs = expiresAtMs - Math.max(ttlMs * 0.2, Math.min(60_000, ttlMs * 0.5));
  schedule(refreshAtMs - Date.now());
  auth.value = { kind: "signed-in", user: res.user };
  if (wasSignedIn) for (const fn of tokenListeners) fn(res.accessToken);
}

function schedule(inMs: number): void {
  clearTimeout(timer);
  timer = setTimeout(
    () => {
      refresh().catch(() => {});
    },
    Math.max(0, Math.min(inMs, 2 ** 31 - 1)),
  );
}

/**
 * POST /internal/auth/refresh with the cookie; one at a time per tab (the
 * cookie rotates, so two concurrent refreshes would race each other).
 */
export function refresh(): Promise<string> {
  if (inflight) return inflight;
  const started = epoch;
  inflight = (async () => {
    try {
      const res = await request<SignedIn>("POST", "/internal/auth/refresh");
      if (started !== epoch) throw new ApiError(401, "SESSION_ENDED", "The session ended meanwhile.");
      establish(res);
      return res.accessToken;
    } catch (err) {
      if (started === epoch && err instanceof ApiError) {
        if (err.status === 401 || err.status === 403) {
          if (auth.value.kind === "signed-in") endSession(endedMessage(err.code));
        } else if (auth.value.kind === "signed-in") {
          // The gateway is unreachable or busy: keep the token while it lasts and try again soon.
          schedule(5000);
        }
      }
      throw err;
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

/** After a reload: the cookie, if any, gives a new access token. */
export async function restore(): Promise<void> {
  try {
    await refresh();
  } catch (err) {
    if (auth.value.kind === "loading") {
      const unreachable = err instanceof ApiError && (err.status === 0 || err.status >= 500);
      auth.value = unreachable
        ? { kind: "signed-out", reason: (err as ApiError).message }
        : { kind: "signed-out" };
    }
  }
}

export async function signIn(email: string, password: string): Promise<void> {
  establish(await request<SignedIn>("POST", "/internal/auth/login", { body: { email, password } }));
}

/** Revokes this session on the gateway (bearer and cookie) and clears the cookie. */
export async function signOut(): Promise<void> {
  const token = accessToken;
  endSession("You signed out.");
  await request("POST", "/internal/auth/logout", { token }).catch(() => {});
}

/** Forgets the token and shows the sign-in page with `reason`. */
export function endSession(reason?: string): void {
  if (auth.value.kind === "signed-out") return;
  epoch++;
  accessToken = null;
  expiresAtMs = 0;
  clearTimeout(timer);
  auth.value = reason ? { kind: "signed-out", reason } : { kind: "signed-out" };
  for (const fn of endListeners) fn();
}

function endedMessage(code: string): string {
  switch (code) {
    case "ACCOUNT_INACTIVE":
      return "Your account is disabled.";
    case "REFRESH_REUSED":
      return "Your session was ended because its refresh token was used twice. Sign in again.";
    case "REFRESH_EXPIRED":
      return "Your session expired. Sign in again.";
    default:
      return "Your session has ended (signed out elsewhere, or the password was changed). Sign in again.";
  }
}

/**
 * An authenticated call: the bearer is attached, a `TOKEN_EXPIRED` answer is
 * refreshed and retried once, and a revoked session ends here (sign-in page).
 */
export async function api<T>(
  method: string,
  path: string,
  opts: Omit<RequestOptions, "token"> = {},
): Promise<T> {
  const token = await freshToken();
  try {
    return await request<T>(method, path, { ...opts, token });
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
    if (err.code === "TOKEN_EXPIRED") return request<T>(method, path, { ...opts, token: await refresh() });
    endSession(endedMessage(err.code));
    throw err;
  }
}

// A tab that slept (timers are throttled in the background) refreshes as soon as it is shown again.
if (typeof document !== "undefined") {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && accessToken && Date.now() >= refreshAtMs)
      refresh().catch(() => {});
  });
}
