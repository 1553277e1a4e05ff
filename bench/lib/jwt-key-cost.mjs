import { createSecretKey } from "node:crypto";
import jwt from "jsonwebtoken";

/**
 * CPU µs of one jsonwebtoken HS256 sign and verify, with the key given as a
 * KeyObject (`crypto.createSecretKey`, as src/auth/access-token.ts and the
 * baselines pass it) and as a Buffer (as the gateway passed it before commit
 * 6673904). jsonwebtoken 9 first tries to parse a Buffer or string key as a
 * PEM private/public key and catches the throw, on every call; a KeyObject
 * skips that. Measured here, in the bench's own process, before any service
 * starts.
 */
export function jwtKeyCost(iterations = 400) {
  const secret = Buffer.from("bench-secret-bench-secret-bench-secret-01", "utf8");
  const claims = { sub: "00000000-0000-4000-8000-000000000000", typ: "customer", sid: "s", iat: 1, exp: 2e9 };
  const cost = (key) => {
    const token = jwt.sign(claims, key, { algorithm: "HS256" });
    for (let i = 0; i < iterations / 4; i++) jwt.verify(jwt.sign(claims, key, { algorithm: "HS256" }), key);
    const c0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) jwt.sign(claims, key, { algorithm: "HS256" });
    const c1 = process.cpuUsage(c0);
    for (let i = 0; i < iterations; i++)
      jwt.verify(token, key, { algorithms: ["HS256"], clockTimestamp: 10 });
    const c2 = process.cpuUsage(c0);
    const signUs = (c1.user + c1.system) / iterations;
    return { signUs, verifyUs: (c2.user + c2.system) / iterations - signUs };
  };
  return { buffer: cost(secret), keyObject: cost(createSecretKey(secret)) };
}
