import { Emitter } from "./emitter.js";
import { ClientCode, HaloError, SESSION_ENDING_CODES } from "./errors.js";
import type { CallOptions, HaloHttp } from "./http.js";
import type { OtpRequested, TokenPair, User, UserType } from "./protocol.js";
import {
  type KeptPushDevice,
  MemoryTokenStore,
  type StoredSession,
  sessionFromPair,
  type TokenStore,
} from "./token-store.js";

export interface AuthOptions {
  http: HaloHttp;
  /** Where the tokens live; default in memory. */
  store?: TokenStore;
  /**
   * The gateway's `REFRESH_REUSE_GRACE_SECONDS` (default 10). A refresh whose
   * answer was lost is retried with the same refresh token only within it;
   * later, the server would take the retry for theft.
   */
  refreshGraceSeconds?: number;
  /** Refresh when the access token has less than this left (default 60 s; at most half its lifetime). */
  refreshLeewaySeconds?: number;
  /** Epoch ms; tests move it. */
  now?: () => number;
}

/** Why a session ended: a refresh answer of SESSION_ENDING_CODES, or LOGGED_OUT. */
export interface SignedOut {
  reason: string;
  error?: HaloError;
}

export interface AuthEvents {
  /** New tokens (a sign-in or a refresh). */
  tokens: StoredSession;
  /** The session is over: tokens dropped, nothing will retry. Sign in again. */
  signedOut: SignedOut;
}

/** What a socket needs of the auth layer (HaloAuth implements it; an app may bring its own). */
export interface AccessTokenSource {
  /**
   * A token valid for at least `minValiditySeconds` (refreshed first if
   * needed; a refresh in flight is waited for), and when it expires.
   */
  getAccessToken(opts?: { minValiditySeconds?: number }): Promise<AccessToken>;
  /** A token newer than `stale` (one got from this source); concurrent callers share one refresh. */
  refreshAccessToken(stale: AccessToken): Promise<AccessToken>;
  /** Whether the server still takes `token` (asked after a refused upgrade, whose status browsers hide). */
  checkAccessToken?(token: string): Promise<"ok" | "expired" | "ended">;
  /** The socket was told the session is revoked (`revoked`, close 4003). */
  sessionRevoked?(): void;
}

export interface AccessToken {
  token: string;
  /** Local epoch ms. */
  expiresAt?: number;
  /**
   * Which rotation it came from. Access tokens minted within one second for
   * one session are byte-identical JWTs, so a token's text cannot tell
   * whether it was replaced; this can.
   */
  version?: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sign-in, refresh and logout for customers and mitras (contract §2), with
 * the refresh rules done right:
 *
 * - one refresh in flight at a time: concurrent callers (a socket's timer, a
 *   reconnect, an HTTP call that got TOKEN_EXPIRED) share it;
 * - a refresh whose answer never came is retried with the *same* refresh
 *   token, within the grace window, so the server hands out the same
 *   successor instead of calling it reuse;
 * - REFRESH_REUSED, SESSION_REVOKED, REFRESH_EXPIRED, REFRESH_INVALID and
 *   ACCOUNT_INACTIVE end the session: tokens cleared, `signedOut` emitted once,
 *   no retry.
 */
export class HaloAuth extends Emitter<AuthEvents> implements AccessTokenSource {
  readonly http: HaloHttp;
  private readonly store: TokenStore;
  private readonly graceMs: number;
  private readonly leewayMs: number;
  private readonly now: () => number;
  private session: StoredSession | null | undefined;
  private refreshing: Promise<StoredSession> | null = null;
  /** Bumped by every sign-in and sign-out, so a refresh that started before cannot overwrite it. */
  private generation = 0;
  /** Bumped by every new token pair. */
  private version = 0;
  /** A logout of ours is in flight (a revocation heard meanwhile is that logout). */
  private loggingOut = false;

  constructor(opts: AuthOptions) {
    super();
    this.http = opts.http;
    this.store = opts.store ?? new MemoryTokenStore();
    this.graceMs = (opts.refreshGraceSeconds ?? 10) * 1000;
    this.leewayMs = (opts.refreshLeewaySeconds ?? 60) * 1000;
    this.now = opts.now ?? Date.now;
  }

  /** The stored session (read from the store once), or null when signed out. */
  async current(): Promise<StoredSession | null> {
    if (this.session === undefined) this.session = (await this.store.load()) ?? null;
    return this.session;
  }

  /** The signed-in user, as of the last sign-in or refresh. */
  async user(): Promise<User | null> {
    return (await this.current())?.user ?? null;
  }

  // ---- sign-in ---------------------------------------------------------------------------------

  /** A new anonymous customer. */
  signInAnonymous(displayName?: string): Promise<StoredSession> {
    return this.signIn("/api/shared/auth/anonymous", displayName === undefined ? {} : { displayName });
  }

  /** Sends a code to `phone` (`08…`, `62…` and `+62…` are one number). */
  requestOtp(userType: UserType, phone: string): Promise<OtpRequested> {
    return this.http.request("POST", `/api/${side(userType)}/auth/otp/request`, { body: { phone } });
  }

  /**
   * Signs in with the code. A signed-in anonymous customer is linked to the
   * phone (keeping its history) unless `link: false`.
   */
  async verifyOtp(
    userType: UserType,
    requestId: string,
    code: string,
    opts: { link?: boolean } = {},
  ): Promise<StoredSession> {
    const token = userType === "customer" ? await this.linkToken(opts.link) : undefined;
    return this.signIn(`/api/${side(userType)}/auth/otp/verify`, { requestId, code }, token);
  }

  /** Customers: signs in (or links a signed-in anonymous customer) with a Google or Apple id token. */
  async signInWithProvider(
    provider: "google" | "apple",
    idToken: string,
    opts: { link?: boolean } = {},
  ): Promise<StoredSession> {
    return this.signIn(`/api/client/auth/${provider}`, { idToken }, await this.linkToken(opts.link));
  }

  /** Customers: Google sign-in with the id token the Google SDK gave the app. */
  signInWithGoogle(idToken: string, opts: { link?: boolean } = {}): Promise<StoredSession> {
    return this.signInWithProvider("google", idToken, opts);
  }

  /** Customers: Sign in with Apple, with the identity token Apple gave the app. */
  signInWithApple(idToken: string, opts: { link?: boolean } = {}): Promise<StoredSession> {
    return this.signInWithProvider("apple", idToken, opts);
  }

  private async linkToken(link: boolean | undefined): Promise<string | undefined> {
    const s = await this.current();
    if (s?.user.type !== "customer") return undefined;
    if (link === false || (link === undefined && s.user.isAnonymous !== true)) return undefined;
    return (await this.getAccessToken()).token;
  }

  private async signIn(path: string, body: unknown, token?: string): Promise<StoredSession> {
    const started = this.now();
    const pair = await this.http.request<TokenPair>("POST", path, { body, ...(token ? { token } : {}) });
    this.generation++;
    return this.keep(sessionFromPair(pair, started), true);
  }

  private async keep(session: StoredSession, signedIn = false): Promise<StoredSession> {
    const device = this.session?.pushDevice;
    if (device) session.pushDevice = signedIn ? { ...device, registered: false } : device;
    this.session = session;
    this.version++;
    await this.store.save(session);
    this.emit("tokens", session);
    return session;
  }

  // ---- the push device ---------------------------------------------------------------------------

  /** Bumped by every sign-in and sign-out: what was done for one session is not taken for another's. */
  get sessionEpoch(): number {
    return this.generation;
  }

  /** The push token kept with this session (see StoredSession.pushDevice), or null. */
  async pushDevice(): Promise<KeptPushDevice | null> {
    return (await this.current())?.pushDevice ?? null;
  }

  /**
   * Keeps (or with null, forgets) the push token with the session of
   * `epoch`; nothing when that session is over, so a registration finishing
   * after a logout leaves no trace.
   */
  async keepPushDevice(device: KeptPushDevice | null, epoch: number): Promise<void> {
    await this.current();
    // Read after the await: a refresh may have replaced the session meanwhile.
    const s = this.session;
    if (!s || epoch !== this.generation) return;
    const { pushDevice: _old, ...rest } = s;
    this.session = device ? { ...rest, pushDevice: device } : rest;
    await this.store.save(this.session);
  }

  // ---- refresh ---------------------------------------------------------------------------------

  /**
   * Rotates the tokens. Callers that come while one refresh runs get its
   * result. With `unlessReplaced`, nothing is sent when that token was
   * already replaced (someone refreshed since the caller got it).
   */
  refresh(opts: { unlessReplaced?: AccessToken } = {}): Promise<StoredSession> {
    if (this.refreshing) return this.refreshing;
    const run = this.runRefresh(opts.unlessReplaced).finally(() => {
      if (this.refreshing === run) this.refreshing = null;
    });
    this.refreshing = run;
    return run;
  }

  private async runRefresh(stale: AccessToken | undefined): Promise<StoredSession> {
    const s = await this.current();
    if (!s) throw notSignedIn();
    if (
      stale &&
      (stale.version !== undefined ? stale.version !== this.version : stale.token !== s.accessToken)
    )
      return s;
    const generation = this.generation;
    // The grace window runs from the server's rotation, which is after our first send: stop
    // retrying a little before it ends, allowing for the retry's own trip.
    const deadline = this.now() + this.graceMs - Math.min(2000, this.graceMs / 4);
    for (let attempt = 0; ; attempt++) {
      const started = this.now();
      try {
        const pair = await this.http.request<TokenPair>("POST", "/api/shared/auth/refresh", {
          body: { refreshToken: s.refreshToken },
          timeoutMs: Math.max(1000, deadline - started),
        });
        if (generation !== this.generation) return this.superseded();
        return await this.keep(sessionFromPair(pair, started));
      } catch (err) {
        // Signed in again meanwhile: that session is the answer. Signed out: this error says why.
        if (generation !== this.generation && this.session) return this.session;
        if (generation !== this.generation || !(err instanceof HaloError)) throw err;
        if (SESSION_ENDING_CODES.has(err.code)) {
          await this.endSession(err.code, err);
          throw err;
        }
        const delay = Math.min(2000, 200 * 2 ** attempt);
        if (!err.retryable || this.now() + delay >= deadline) throw err;
        await sleep(delay);
      }
    }
  }

  private superseded(): StoredSession {
    if (this.session) return this.session;
    throw notSignedIn();
  }

  async getAccessToken(opts: { minValiditySeconds?: number } = {}): Promise<AccessToken> {
    // A refresh in flight is about to give a fresher token than any we hold: wait for it.
    if (this.refreshing) return this.tokenOf(await this.refreshing);
    const s = await this.current();
    if (!s) throw notSignedIn();
    const min =
      opts.minValiditySeconds !== undefined
        ? opts.minValiditySeconds * 1000
        : Math.min(this.leewayMs, (s.accessLifetimeSeconds * 1000) / 2);
    if (s.accessExpiresAt - this.now() > min) return this.tokenOf(s);
    // Just minted: used even if the refresh took so long that less than `min` is left.
    return this.tokenOf(await this.refresh({ unlessReplaced: this.tokenOf(s) }));
  }

  async refreshAccessToken(stale: AccessToken): Promise<AccessToken> {
    return this.tokenOf(await this.refresh({ unlessReplaced: stale }));
  }

  private tokenOf(s: StoredSession): AccessToken {
    return { token: s.accessToken, expiresAt: s.accessExpiresAt, version: this.version };
  }

  /** When the access token should be refreshed ahead of its expiry (local epoch ms), or null signed out. */
  async refreshDueAt(): Promise<number | null> {
    const s = await this.current();
    if (!s) return null;
    return s.accessExpiresAt - Math.min(this.leewayMs, (s.accessLifetimeSeconds * 1000) / 2);
  }

  async checkAccessToken(token: string): Promise<"ok" | "expired" | "ended"> {
    const s = await this.current();
    if (!s) return "ended";
    try {
      await this.http.request("GET", `/api/${side(s.user.type)}/auth/me`, { token });
      return "ok";
    } catch (err) {
      if (!(err instanceof HaloError)) throw err;
      if (err.code === "TOKEN_EXPIRED" || err.code === "UNAUTHENTICATED") return "expired";
      if (err.code === "SESSION_REVOKED" || err.code === "FORBIDDEN") {
        await this.endSession(err.code, err);
        return "ended";
      }
      throw err;
    }
  }

  sessionRevoked(): void {
    // Our own logout revokes the session too, and its socket may hear of it before the 204.
    void this.endSession(this.loggingOut ? "LOGGED_OUT" : "SESSION_REVOKED");
  }

  // ---- calls with the access token ----------------------------------------------------------------

  /**
   * An authenticated call: the token is refreshed first when it is about to
   * expire, and once more on TOKEN_EXPIRED; SESSION_REVOKED ends the session.
   */
  async call<T>(method: string, path: string, opts: Omit<CallOptions, "token"> = {}): Promise<T> {
    const access = await this.getAccessToken();
    const token = access.token;
    try {
      return await this.http.request<T>(method, path, { ...opts, token });
    } catch (err) {
      if (!(err instanceof HaloError)) throw err;
      if (err.code === "TOKEN_EXPIRED") {
        const fresh = await this.refreshAccessToken(access);
        return this.http.request<T>(method, path, { ...opts, token: fresh.token });
      }
      if (err.code === "SESSION_REVOKED") await this.endSession(err.code, err);
      throw err;
    }
  }

  /** The signed-in user as the server has it now. */
  async me(): Promise<User> {
    const s = await this.current();
    if (!s) throw notSignedIn();
    return this.call("GET", `/api/${side(s.user.type)}/auth/me`);
  }

  // ---- sign-out --------------------------------------------------------------------------------

  /** Revokes this session on the server and drops the tokens (locally even when the server is unreachable). */
  logout(): Promise<void> {
    return this.signOut("/api/shared/auth/logout");
  }

  /**
   * Revokes every session of the user (every device), then drops the tokens.
   * When the server did not do it (unreachable, 503 while its database is
   * down) it throws and keeps the tokens, so the app can call it again: the
   * other devices are still signed in, and only these tokens can revoke them.
   */
  logoutAll(): Promise<void> {
    return this.signOut("/api/shared/auth/logout-all", { keepOnFailure: true });
  }

  private async signOut(path: string, opts: { keepOnFailure?: boolean } = {}): Promise<void> {
    if (!(await this.current())) return;
    let failure: unknown;
    this.loggingOut = true;
    try {
      await this.call("POST", path);
    } catch (err) {
      failure = err;
    }
    // Already revoked or expired is what we wanted; anything else (unreachable) is reported.
    const refused =
      failure !== undefined && !(failure instanceof HaloError && SESSION_ENDING_CODES.has(failure.code));
    if (!refused || !opts.keepOnFailure) await this.endSession("LOGGED_OUT");
    this.loggingOut = false;
    if (refused) throw failure;
  }

  /** Drops the tokens and tells listeners once; later calls are no-ops. */
  async endSession(reason: string, error?: HaloError): Promise<void> {
    const had = (await this.current()) !== null;
    this.generation++;
    this.session = null;
    this.refreshing = null;
    if (!had) return;
    await this.store.clear();
    this.emit("signedOut", error ? { reason, error } : { reason });
  }
}

/** The path segment of a user type's own routes (`/api/client/…` or `/api/mitra/…`). */
export const side = (userType: string): "client" | "mitra" => (userType === "mitra" ? "mitra" : "client");

const notSignedIn = (): HaloError => new HaloError(ClientCode.notSignedIn, "Not signed in");
