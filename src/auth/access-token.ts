import { createSecretKey } from "node:crypto";
import jwt from "jsonwebtoken";
import { z } from "zod";
import { epochSeconds } from "../clock.js";
import { AppError } from "../errors.js";
import { type Principal, USER_TYPES, type UserType } from "./user-types.js";

/** Clock skew tolerated on `iat` (a token "issued in the future" beyond this is forged or broken). */
const IAT_SKEW_SECONDS = 30;

const claimsSchema = z.object({
  sub: z.uuid(),
  typ: z.enum(USER_TYPES),
  sid: z.uuid(),
  iat: z.number().int(),
  exp: z.number().int(),
});

export interface AccessTokens {
  ttlSeconds: number;
  sign(p: { userId: string; userType: UserType; sid: string }, now: Date): { token: string; exp: number };
  /** Verifies signature (HS256 only), expiry and claims. Throws UNAUTHENTICATED or TOKEN_EXPIRED. */
  verify(token: string, now: Date): Principal;
}

export function createAccessTokens(secret: string, ttlSeconds: number): AccessTokens {
  // A KeyObject, not a Buffer: jsonwebtoken tries to parse a Buffer as a PEM key on every call (~0.5 ms, measured).
  const key = createSecretKey(Buffer.from(secret, "utf8"));
  return {
    ttlSeconds,
    sign({ userId, userType, sid }, now) {
      const iat = epochSeconds(now);
      const exp = iat + ttlSeconds;
      // iat comes from the injected clock (jsonwebtoken keeps a given iat; `noTimestamp` would drop it).
      const token = jwt.sign({ sub: userId, typ: userType, sid, iat, exp }, key, { algorithm: "HS256" });
      return { token, exp };
    },
    verify(token, now) {
      const nowSec = epochSeconds(now);
      let decoded: unknown;
      try {
        // algorithms pinned: "none", RS256 and every other alg are refused.
        decoded = jwt.verify(token, key, { algorithms: ["HS256"], clockTimestamp: nowSec });
      } catch (err) {
        if (err instanceof jwt.TokenExpiredError)
          throw new AppError("TOKEN_EXPIRED", 401, "Access token expired");
        throw unauthenticated();
      }
      const claims = claimsSchema.safeParse(decoded);
      if (!claims.success) throw unauthenticated();
      const c = claims.data;
      if (c.iat > nowSec + IAT_SKEW_SECONDS || c.exp <= c.iat) throw unauthenticated();
      return { userId: c.sub, userType: c.typ, sid: c.sid, exp: c.exp };
    },
  };
}

export const unauthenticated = (message = "Missing or invalid access token"): AppError =>
  new AppError("UNAUTHENTICATED", 401, message);
