import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from "jose";
import type { Clock } from "../clock.js";
import { AppError } from "../errors.js";
import { unauthenticated } from "./access-token.js";

export type SocialProvider = "google" | "apple";

/** What a verified provider id token says about its user. */
export interface SocialIdentity {
  provider: SocialProvider;
  sub: string;
  /** Only an address the provider says it verified. */
  email: string | null;
  name: string | null;
}

export interface SocialConfig {
  googleJwksUrl: string;
  appleJwksUrl: string;
  /** Accepted `aud` values; none means the provider is not configured. */
  googleClientIds: readonly string[];
  appleServicesId: string | undefined;
}

const ISSUERS: Record<SocialProvider, string[]> = {
  google: ["https://accounts.google.com", "accounts.google.com"],
  apple: ["https://appleid.apple.com"],
};
const LABEL: Record<SocialProvider, string> = { google: "Google", apple: "Apple" };

/**
 * A token whose `kid` is not in the cached key set triggers a refetch at most
 * this often: a rotated key is picked up within 2 s, while a flood of tokens
 * with made-up kids costs at most one fetch per 2 s per process.
 */
const REFETCH_COOLDOWN_MS = 2000;

/** jose error codes that mean "this token is not good" (401); any other failure is the provider's (503). */
const TOKEN_FAULTS: Record<string, string> = {
  ERR_JWT_EXPIRED: "the token has expired",
  ERR_JWKS_NO_MATCHING_KEY: "the token is signed with an unknown key",
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: "the token is signed with an unknown key",
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "the signature does not verify",
  ERR_JOSE_ALG_NOT_ALLOWED: "the signing algorithm is not accepted",
  ERR_JOSE_NOT_SUPPORTED: "the token is malformed",
  ERR_JWS_INVALID: "the token is malformed",
  ERR_JWT_INVALID: "the token is malformed",
};

export interface SocialVerifier {
  /** Verifies a provider id token (signature against the JWKS, issuer, audience, expiry). */
  verify(provider: SocialProvider, idToken: string): Promise<SocialIdentity>;
}

export function createSocialVerifier(cfg: SocialConfig, now: Clock): SocialVerifier {
  // createRemoteJWKSet fetches lazily, caches for 10 min and refetches on an unknown kid (key rotation).
  const jwks = {
    google: createRemoteJWKSet(new URL(cfg.googleJwksUrl), { cooldownDuration: REFETCH_COOLDOWN_MS }),
    apple: createRemoteJWKSet(new URL(cfg.appleJwksUrl), { cooldownDuration: REFETCH_COOLDOWN_MS }),
  };
  const audiences: Record<SocialProvider, string[]> = {
    google: [...cfg.googleClientIds],
    apple: cfg.appleServicesId ? [cfg.appleServicesId] : [],
  };

  return {
    async verify(provider, idToken) {
      const label = LABEL[provider];
      if (audiences[provider].length === 0) throw unauthenticated(`${label} sign-in is not configured`);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(idToken, jwks[provider], {
          issuer: ISSUERS[provider],
          audience: audiences[provider],
          algorithms: ["RS256"],
          requiredClaims: ["sub", "exp"],
          currentDate: now(),
        }));
      } catch (err) {
        throw rejection(err, label);
      }
      const sub = payload.sub;
      if (typeof sub !== "string" || sub.length === 0 || sub.length > 255) {
        throw unauthenticated(`${label} id token rejected: no usable subject`);
      }
      return { provider, sub, email: verifiedEmail(payload), name: shortString(payload.name, 80) };
    },
  };
}

function rejection(err: unknown, label: string): AppError {
  if (err instanceof errors.JWTClaimValidationFailed) {
    const what = err.claim === "aud" ? "wrong audience" : err.claim === "iss" ? "wrong issuer" : err.message;
    return unauthenticated(`${label} id token rejected: ${what}`);
  }
  const fault = err instanceof errors.JOSEError ? TOKEN_FAULTS[err.code] : undefined;
  if (fault) return unauthenticated(`${label} id token rejected: ${fault}`);
  const providerDown =
    err instanceof errors.JOSEError || (err instanceof TypeError && /fetch failed/i.test(err.message));
  if (providerDown)
    return new AppError("DEPENDENCY_UNAVAILABLE", 503, `${label} sign-in keys are unavailable`);
  throw err;
}

/** Apple sends `email_verified` as the string "true"; Google as a boolean. */
function verifiedEmail(p: JWTPayload): string | null {
  const verified = p.email_verified === true || p.email_verified === "true";
  return verified ? shortString(p.email, 320) : null;
}

function shortString(v: unknown, max: number): string | null {
  if (typeof v !== "string") return null;
  const s = v.trim();
  return s.length > 0 && s.length <= max ? s : null;
}
