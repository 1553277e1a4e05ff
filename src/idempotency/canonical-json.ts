import { createHash, createHmac } from "node:crypto";
import canonicalize from "canonicalize";
import { validationFailed } from "../errors.js";

/**
 * Canonical JSON (RFC 8785, JCS, by the `canonicalize` package): object keys
 * sorted by UTF-16 code unit at every depth, no whitespace, ECMAScript number
 * form. Two bodies that differ only in key order or spacing canonicalise alike.
 *
 * JCS refuses strings that are not well-formed Unicode (a lone surrogate, which
 * `\ud800` in a JSON body produces): that is bad input, so it answers 400, never 500.
 */
export function canonicalJson(value: unknown): string {
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (err) {
    throw validationFailed(
      [{ path: "", message: (err as Error).message }],
      "Body is not canonicalisable JSON",
    );
  }
  // `undefined` (or a function) has no JSON form; hash it as JSON null so every input has one.
  return text ?? "null";
}

/**
 * Hex digest of a value's canonical JSON: SHA-256, or HMAC-SHA256 when a key
 * is given. A key matters when bodies carry secrets (an operator's password):
 * a stored keyed digest cannot be brute-forced offline from a database copy.
 */
export function canonicalHash(value: unknown, key?: Buffer): string {
  const h = key ? createHmac("sha256", key) : createHash("sha256");
  return h.update(canonicalJson(value), "utf8").digest("hex");
}
