import fc from "fast-check";
import type { Schema } from "./json-schema-arbitrary.js";

/** Strings that have broken parsers, drivers and loggers somewhere. */
export const HOSTILE_STRINGS: readonly string[] = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF\uD800",
  "\u202Eevil",
  "\uFEFF",
  "𝕳𝖆𝖑𝖔 🙂🏽‍🦱",
  "'; DROP TABLE mitras; --",
  "' OR '1'='1",
  "%",
  "%00",
  "%zz",
  "../../../etc/passwd",
  "<script>alert(1)</script>",
  // A log4shell probe, spelled so that no linter takes it for a template.
  `$${"{"}jndi:ldap://127.0.0.1/a}`,
  "{{7*7}}",
  "__proto__",
  "constructor",
  "null",
  "NaN",
  "-0",
  "1e999",
  "+62",
  "0".repeat(40),
  "x".repeat(129),
  "x".repeat(4001),
  "\\".repeat(300),
];

/** Numbers at and past every edge JSON can carry. */
export const HOSTILE_NUMBERS: readonly number[] = [
  0,
  -1,
  0.5,
  -0.5,
  1e-308,
  2 ** 31,
  2 ** 53 + 2,
  -(2 ** 53) - 2,
  Number.MAX_SAFE_INTEGER,
  1e21,
  1.7976931348623157e308,
  -1.7976931348623157e308,
];

/** A value of every other JSON type, a huge one and a deeply nested one. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(...HOSTILE_STRINGS),
  fc.constantFrom<unknown>(...HOSTILE_NUMBERS),
  fc.constantFrom<unknown>(
    null,
    true,
    false,
    [],
    {},
    [null],
    { $ne: null },
    JSON.parse('{"__proto__":{"admin":true}}'),
  ),
  fc.constant(nested(400)),
  fc.jsonValue({ maxDepth: 3 }),
);

/** `[[[…]]]` `depth` levels deep. */
export function nested(depth: number): unknown {
  let v: unknown = [];
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/**
 * Objects that are almost right: a valid one with a field missing, a field of
 * the wrong type or value, or an extra field (named to hurt).
 */
export function mutatedObject(schema: Schema, valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  const names = Object.keys((schema.properties ?? {}) as Record<string, unknown>);
  const required = (schema.required ?? []) as string[];
  const field = names.length > 0 ? fc.constantFrom(...names) : fc.constant("x");
  const extraName = fc.constantFrom(
    "__proto__",
    "constructor",
    "toString",
    "extra",
    "",
    "a.b",
    "$where",
    "x".repeat(300),
  );
  const asObject = valid.map(
    (v) => (v && typeof v === "object" && !Array.isArray(v) ? v : {}) as Record<string, unknown>,
  );
  const strategies: fc.Arbitrary<unknown>[] = [
    fc.tuple(asObject, field, hostileValue).map(([o, k, v]) => ({ ...o, [k]: v })),
    fc.tuple(asObject, extraName, hostileValue).map(([o, k, v]) => {
      const out = { ...o };
      Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      return out;
    }),
  ];
  if (required.length > 0) {
    strategies.push(
      fc.tuple(asObject, fc.constantFrom(...required)).map(([o, k]) => {
        const { [k]: _, ...rest } = o;
        return rest;
      }),
    );
  }
  return fc.oneof(...strategies);
}

/** Bodies that are no JSON object at all. */
export const hostileRawBody: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    "{",
    "}",
    "nul",
    "[1,2",
    '{"a":1,}',
    "\u0000",
    "undefined",
    "NaN",
    "1e999",
    '"just a string"',
    "[]",
    "null",
    "true",
    "123",
    '{"__proto__":{"polluted":true}}',
    '{"constructor":{"prototype":{"polluted":true}}}',
    '{"a":1,"a":2}',
    "\uFEFF{}",
  ),
  fc.constant(JSON.stringify(nested(4000))),
  fc.string({ unit: "binary", maxLength: 64 }),
);
