import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Contract §2 password policy. The common-password list ships in data/ (10,000
 * entries, lower-cased) and is compared case-insensitively, so "Password1"
 * is refused like "password1".
 */
const LIST_PATH = fileURLToPath(new URL("../../data/common-passwords.txt", import.meta.url));

let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  if (!common) {
    common = new Set(
      readFileSync(LIST_PATH, "utf8")
        .split("\n")
        .filter((l) => l.length > 0 && !l.startsWith("#")),
    );
  }
  return common;
}

/** Returns why the password fails the policy, or null when it passes. */
export function passwordPolicyProblem(password: string): string | null {
  if (password.length < 8) return "must be at least 8 characters";
  if (Buffer.byteLength(password, "utf8") > 72) return "must be at most 72 bytes";
  if (!/[0-9]/.test(password)) return "must contain a digit";
  if (!/[a-z]/.test(password)) return "must contain a lower-case letter";
  if (!/[A-Z]/.test(password)) return "must contain an upper-case letter";
  if (commonPasswords().has(password.toLowerCase())) return "is too common";
  return null;
}
