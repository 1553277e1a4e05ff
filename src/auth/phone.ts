import { parsePhoneNumberFromString } from "libphonenumber-js";
import { AppError } from "../errors.js";

/**
 * Longest input worth parsing: E.164 has at most 15 digits, so 32 characters
 * leave room for spaces, dashes and parentheses. Anything longer is refused
 * before the parser sees it (a 10 KB "phone" costs nothing).
 */
const MAX_INPUT_CHARS = 32;

/** Digits with the usual separators, optionally led by '+'. Letters (vanity numbers, "ext.") are refused. */
const ALLOWED = /^\+?[0-9 ().-]+$/;

/**
 * A phone number in E.164 (`+6281234567890`), or INVALID_PHONE (contract §2).
 *
 * Under the default country code (62): `0812…` is national, `62812…` (digits
 * only, starting with the code, no leading 0) is international without its
 * '+', and `+62812…` is international — all three are one number. Other
 * digit strings are read as national numbers without the trunk 0.
 */
export function normalisePhone(input: string, defaultCountryCode: number): string {
  if (input.length > MAX_INPUT_CHARS || !ALLOWED.test(input.trim())) throw invalidPhone();
  const compact = input.replace(/[\s().-]/g, "");
  const cc = String(defaultCountryCode);
  const text =
    !compact.startsWith("+") && !compact.startsWith("0") && compact.startsWith(cc) ? `+${compact}` : compact;
  const parsed = parsePhoneNumberFromString(text, { defaultCallingCode: cc, extract: false });
  // isValid checks length and leading digits against the country's metadata, not only the digit count.
  if (!parsed?.isValid()) throw invalidPhone();
  return parsed.number;
}

export const invalidPhone = (): AppError =>
  new AppError("INVALID_PHONE", 400, "This is not a phone number we can send a code to");
