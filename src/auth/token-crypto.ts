import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Opaque tokens (refresh tokens, link tokens) and OTP codes are stored only as
 * keyed hashes. They are random (≥ 256 bits), so a fast keyed hash is right;
 * bcrypt is for passwords. Keys are derived from AUTH_JWT_SECRET per purpose.
 */
export interface TokenCrypto {
  /** 32 random bytes, base64url (43 characters). */
  newToken(): string;
  isWellFormed(token: string): boolean;
  hash(token: string): Buffer;
  /**
   * The successor of a refresh token, derived from it, so a retried refresh
   * (lost response) can hand back the same successor without storing it.
   */
  successorOf(token: string): string;
  /** Constant-time comparison of an OTP code against its stored hash. */
  codeMatches(code: string, storedHash: Buffer): boolean;
  hashCode(code: string): Buffer;
}

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export function createTokenCrypto(secret: string): TokenCrypto {
  const key = (purpose: string) => createHmac("sha256", secret).update(`halo-gateway:${purpose}`).digest();
  const hashKey = key("token-hash");
  const successorKey = key("refresh-successor");
  const codeKey = key("otp-code");
  const hmac = (k: Buffer, v: string) => createHmac("sha256", k).update(v).digest();

  return {
    newToken: () => randomBytes(32).toString("base64url"),
    isWellFormed: (t) => TOKEN_RE.test(t),
    hash: (t) => hmac(hashKey, t),
    successorOf: (t) => hmac(successorKey, t).toString("base64url"),
    hashCode: (code) => hmac(codeKey, code),
    codeMatches: (code, stored) => {
      const candidate = hmac(codeKey, code);
      return candidate.length === stored.length && timingSafeEqual(candidate, stored);
    },
  };
}
