import fc from "fast-check";

/** A JSON Schema node as the API documents carry it (zod 4's JSON Schema output). */
export type Schema = Record<string, unknown>;

export interface ArbitraryOptions {
  /** The document `$ref`s point into (`#/components/schemas/…`). */
  root?: Schema;
  /** Real values for a property name (a known session id, a real phone), mixed in with generated ones. */
  hints?: Readonly<Record<string, fc.Arbitrary<unknown>>>;
}

/** The longest string or array generated for a field without a lower bound above it (values stay small). */
const SMALL = 24;
const INT32 = 2 ** 31 - 1;

/**
 * Values valid for a JSON Schema (the subset zod 4 emits: type, enum, const,
 * anyOf, properties/required/additionalProperties, items, string and number
 * bounds, pattern, format uuid/email/date-time, $ref), with the bounds
 * themselves drawn often: the boundary cases sit beside typical ones.
 */
export function arbitraryOf(schema: Schema, opts: ArbitraryOptions = {}): fc.Arbitrary<unknown> {
  if (typeof schema.$ref === "string") return arbitraryOf(resolve(schema.$ref, opts.root), opts);
  if ("const" in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  const union = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (union) return fc.oneof(...union.map((s) => arbitraryOf(s, opts)));
  if (Array.isArray(schema.type)) {
    return fc.oneof(...(schema.type as string[]).map((type) => arbitraryOf({ ...schema, type }, opts)));
  }
  switch (schema.type) {
    case "string":
      return stringOf(schema);
    case "integer":
    case "number":
      return numberOf(schema);
    case "boolean":
      return fc.boolean();
    case "null":
      return fc.constant(null);
    case "array": {
      const items = arbitraryOf((schema.items ?? {}) as Schema, opts);
      const minLength = (schema.minItems as number | undefined) ?? 0;
      return fc.array(items, {
        minLength,
        maxLength: Math.min((schema.maxItems as number) ?? SMALL, minLength + 4),
      });
    }
    case "object":
      return objectOf(schema, opts);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectOf(schema: Schema, opts: ArbitraryOptions): fc.Arbitrary<unknown> {
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  const required = (schema.required ?? []) as string[];
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, prop] of Object.entries(properties)) {
    const derived = arbitraryOf(prop, opts);
    const hint = opts.hints?.[name];
    model[name] = hint ? fc.oneof(hint, derived) : derived;
  }
  const record = fc.record(model, { requiredKeys: required });
  // A plain object: fast-check may build records without a prototype.
  return record.map((r) => ({ ...r }));
}

function stringOf(schema: Schema): fc.Arbitrary<string> {
  const minLength = (schema.minLength as number | undefined) ?? 0;
  const maxLength = (schema.maxLength as number | undefined) ?? Math.max(SMALL, minLength);
  if (schema.format === "uuid") return fc.uuid();
  if (schema.format === "date-time") return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
  if (typeof schema.pattern === "string") {
    return fc
      .stringMatching(new RegExp(schema.pattern as string))
      .filter((s) => s.length >= minLength && s.length <= maxLength);
  }
  const typical = fc.string({
    unit: "grapheme",
    minLength,
    maxLength: Math.min(maxLength, minLength + SMALL),
  });
  const atBounds = fc.constantFrom(...new Set([minLength, maxLength])).map((n) => "x".repeat(n));
  return fc.oneof({ arbitrary: typical, weight: 4 }, { arbitrary: atBounds, weight: 1 });
}

function numberOf(schema: Schema): fc.Arbitrary<number> {
  const integer = schema.type === "integer";
  const min = (schema.minimum as number | undefined) ?? (integer ? -INT32 : -1e9);
  const max = (schema.maximum as number | undefined) ?? (integer ? INT32 : 1e9);
  const typical = integer
    ? fc.integer({ min: Math.max(min, -INT32), max: Math.min(max, INT32) })
    : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  return fc.oneof({ arbitrary: typical, weight: 4 }, { arbitrary: fc.constantFrom(min, max), weight: 1 });
}

function resolve(pointer: string, root: Schema | undefined): Schema {
  if (!root || !pointer.startsWith("#/")) throw new Error(`cannot resolve ${pointer}`);
  let node: unknown = root;
  for (const part of pointer.slice(2).split("/")) node = (node as Record<string, unknown>)[part];
  if (!node || typeof node !== "object") throw new Error(`dangling ${pointer}`);
  return node as Schema;
}
