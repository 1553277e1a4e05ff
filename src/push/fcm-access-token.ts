import { readFile } from "node:fs/promises";
import { importPKCS8, SignJWT } from "jose";
import { z } from "zod";
import { type Clock, epochSeconds } from "../clock.js";
import { errorCodeIn, networkCause } from "../outbound-http.js";

/*
 * The OAuth2 access token FCM HTTP v1 wants, from a service account
 * (RFC 7523 JWT bearer grant, as Google documents for service accounts):
 * an RS256 assertion {iss: client_email, scope, aud: token URL, iat, exp}
 * POSTed as grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer.
 *
 * Signed with `jose` rather than google-auth-library: that library's JWT
 * client (v11.3.4, build/src/gtoken/getToken.js and jwsSign.js) hardcodes
 * https://oauth2.googleapis.com/token as both the URL and the `aud`, and
 * ignores the key file's `token_uri`, so FCM_TOKEN_URL (the fake in tests)
 * could only be reached by rewriting its requests (docs/push.md, Providers).
 */

export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";
export const GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token";
const ASSERTION_LIFETIME_SECONDS = 3600;
/** Refresh this long before the token expires, so a send never carries one that dies in flight. */
const EARLY_REFRESH_MS = 60_000;

const serviceAccountSchema = z.looseObject({
  client_email: z.string().min(1),
  private_key: z.string().min(1),
  private_key_id: z.string().optional(),
  token_uri: z.url().optional(),
});
export type ServiceAccount = z.infer<typeof serviceAccountSchema>;

const tokenAnswer = z.looseObject({
  access_token: z.string().min(1),
  expires_in: z.coerce.number().positive(),
});

/** A failure to get a token; `retryable` when trying again later may help (network, 429, 5xx). */
export class AccessTokenError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = "AccessTokenError";
  }
}

/** Reads and checks a service-account JSON file; the message never quotes the key. */
export async function readServiceAccount(file: string): Promise<ServiceAccount> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, "utf8"));
  } catch (err) {
    throw new Error(`FCM service account file ${file} is unreadable or not JSON (${(err as Error).name})`);
  }
  const parsed = serviceAccountSchema.safeParse(json);
  if (!parsed.success) {
    const paths = [...new Set(parsed.error.issues.map((i) => i.path.join(".") || "(root)"))];
    throw new Error(`FCM service account file ${file} lacks a valid ${paths.join(", ")}`);
  }
  return parsed.data;
}

export interface AccessTokenSourceOptions {
  account: ServiceAccount;
  /** Overrides the account's `token_uri` (FCM_TOKEN_URL); Google's endpoint when neither is set. */
  tokenUrl?: string;
  timeoutMs: number;
  now: Clock;
}

/**
 * One cached access token per provider: fetched on first use, kept until
 * shortly before `expires_in` runs out, and fetched by one request at a time
 * however many sends are waiting for it.
 */
export class AccessTokenSource {
  readonly tokenUrl: string;
  /** How many token requests were made (for tests and logs). */
  fetches = 0;
  private cached: { token: string; refreshAtMs: number } | undefined;
  private inFlight: Promise<string> | undefined;
  private key: Awaited<ReturnType<typeof importPKCS8>> | undefined;

  constructor(private readonly opts: AccessTokenSourceOptions) {
    this.tokenUrl = opts.tokenUrl ?? opts.account.token_uri ?? GOOGLE_TOKEN_URL;
  }

  async get(): Promise<string> {
    const cached = this.cached;
    if (cached && this.opts.now().getTime() < cached.refreshAtMs) return cached.token;
    this.inFlight ??= this.fetchToken().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /**
   * Drops `token` after FCM refused it (revoked, or the clocks disagree). Only
   * that token: a send that carried an older one must not throw away the
   * fresh token another send just fetched.
   */
  invalidate(token: string): void {
    if (this.cached?.token === token) this.cached = undefined;
  }

  private async fetchToken(): Promise<string> {
    const { account, timeoutMs, now } = this.opts;
    this.key ??= await importPKCS8(account.private_key, "RS256").catch(() => {
      throw new AccessTokenError("FCM service account private_key is not a PKCS#8 RSA key", false);
    });
    const iat = epochSeconds(now());
    const header: { alg: "RS256"; typ: "JWT"; kid?: string } = { alg: "RS256", typ: "JWT" };
    if (account.private_key_id) header.kid = account.private_key_id;
    const assertion = await new SignJWT({ scope: FCM_SCOPE })
      .setProtectedHeader(header)
      .setIssuer(account.client_email)
      .setAudience(this.tokenUrl)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
      .sign(this.key);

    this.fetches++;
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.tokenUrl, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer", assertion }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw new AccessTokenError(`OAuth2 token endpoint unreachable (${networkCause(err)})`, true);
    }
    if (!res.ok) {
      // 400/401 (invalid_grant, a deleted key) will not heal by itself; 429 and 5xx may.
      const retryable = res.status === 429 || res.status >= 500;
      throw new AccessTokenError(
        `OAuth2 token endpoint answered ${res.status}${errorCodeIn(text, "error", /^[a-z_]{1,64}$/)}`,
        retryable,
      );
    }
    let parsed: z.infer<typeof tokenAnswer>;
    try {
      parsed = tokenAnswer.parse(JSON.parse(text));
    } catch {
      throw new AccessTokenError("OAuth2 token endpoint answered without access_token/expires_in", true);
    }
    const lifetimeMs = parsed.expires_in * 1000;
    // A short-lived token (tests) is refreshed at half its life instead of never being cached.
    const early = Math.min(EARLY_REFRESH_MS, lifetimeMs / 2);
    this.cached = { token: parsed.access_token, refreshAtMs: now().getTime() + lifetimeMs - early };
    return parsed.access_token;
  }
}
