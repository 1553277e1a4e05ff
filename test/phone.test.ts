import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { normalisePhone } from "../src/auth/phone.js";
import { AppError } from "../src/errors.js";

const ID = 62;

/** An Indonesian mobile number without country code or trunk 0: 8, then 1–9, then 7–10 digits. */
const indonesianMobile = fc
  .tuple(
    fc.integer({ min: 1, max: 9 }),
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 7, maxLength: 10 }),
  )
  .map(([second, rest]) => `8${second}${rest.join("")}`);

/** Spaces, dashes and dots a person might type between digit groups. */
const spaced = (digits: string, seps: string[]): string =>
  digits.replace(/(\d{3})(?=\d)/g, (group, _m, i: number) => `${group}${seps[i % seps.length] ?? ""}`);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? err.code : `non-AppError: ${String(err)}`;
  }
}

describe("phone numbers", () => {
  it("reads 08…, 62… and +62… as one number", () => {
    expect(normalisePhone("081234567890", ID)).toBe("+6281234567890");
    expect(normalisePhone("6281234567890", ID)).toBe("+6281234567890");
    expect(normalisePhone("+6281234567890", ID)).toBe("+6281234567890");
    expect(normalisePhone("+62 812-3456-7890", ID)).toBe("+6281234567890");
    expect(normalisePhone("(0812) 3456.7890", ID)).toBe("+6281234567890");
  });

  it("keeps a number of another country that comes with its +", () => {
    expect(normalisePhone("+1 202 555 0143", ID)).toBe("+12025550143");
    expect(normalisePhone("+44 7911 123456", ID)).toBe("+447911123456");
  });

  it("uses the configured default country for national numbers", () => {
    expect(normalisePhone("07911 123456", 44)).toBe("+447911123456");
    expect(normalisePhone("447911123456", 44)).toBe("+447911123456");
  });

  it("refuses strings that are no phone number with INVALID_PHONE", () => {
    for (const s of [
      "",
      "   ",
      "abc",
      "0812",
      "+621234",
      "+6281234567890123",
      "12",
      "+",
      "0812abc4567",
      "x".repeat(10_240),
    ]) {
      expect(
        codeOf(() => normalisePhone(s, ID)),
        s.slice(0, 20),
      ).toBe("INVALID_PHONE");
    }
    expect(codeOf(() => normalisePhone("0812 3456 7890 ext 12", ID))).toBe("INVALID_PHONE");
    expect(codeOf(() => normalisePhone("+62 812 3456 7890; DROP TABLE mitras", ID))).toBe("INVALID_PHONE");
  });

  it("gives every typed form of an Indonesian mobile number the same E.164 (property)", () => {
    fc.assert(
      fc.property(
        indonesianMobile,
        fc.array(fc.constantFrom(" ", "-", ".", ""), { minLength: 1 }),
        (nsn, seps) => {
          const e164 = `+62${nsn}`;
          for (const form of [
            `0${nsn}`,
            `62${nsn}`,
            `+62${nsn}`,
            spaced(`0${nsn}`, seps),
            `+62 ${spaced(nsn, seps)}`,
          ]) {
            expect(normalisePhone(form, ID)).toBe(e164);
          }
        },
      ),
    );
  });

  it("answers any string with E.164 or INVALID_PHONE, never another failure, and is idempotent (property)", () => {
    const phoneish = fc.stringMatching(/^\+?[0-9 ().-]{0,24}$/);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), phoneish), (input) => {
        let out: string;
        try {
          out = normalisePhone(input, ID);
        } catch (err) {
          expect(err).toBeInstanceOf(AppError);
          expect((err as AppError).code).toBe("INVALID_PHONE");
          return;
        }
        expect(out).toMatch(/^\+[1-9][0-9]{6,14}$/);
        expect(normalisePhone(out, ID)).toBe(out);
      }),
      { numRuns: 2000 },
    );
  });
});
