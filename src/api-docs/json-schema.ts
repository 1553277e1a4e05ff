import { z } from "zod";

/** A JSON Schema as the documents carry it. */
export type JsonSchema = Record<string, unknown>;

/** Which JSON Schema dialect: OpenAPI 3.1 speaks 2020-12, AsyncAPI 3.0 schemas are draft-07. */
export type Dialect = "draft-2020-12" | "draft-07";

/**
 * Whether a schema describes what a client sends (`input`: defaults and
 * coercions make fields optional) or what the server sends (`output`).
 */
export type Direction = "input" | "output";

/** One schema, self-contained (no `$ref`): request bodies, queries and client frames. */
export function inlineSchema(schema: z.ZodType, io: Direction, target: Dialect): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    io,
    target,
    unrepresentable: "throw",
  }) as JsonSchema;
  return rest;
}

/**
 * Named schemas converted together, each referring to the others by
 * `#/components/schemas/<name>` wherever one contains another (a session
 * answer refers to `Session`). The names are the components' keys.
 */
export function componentSchemas(
  named: ReadonlyMap<z.ZodType, string>,
  io: Direction,
  target: Dialect,
): Record<string, JsonSchema> {
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of named) registry.add(schema, { id });
  const { schemas } = z.toJSONSchema(registry, {
    io,
    target,
    unrepresentable: "throw",
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, JsonSchema> };
  if ("__shared" in schemas) throw new Error("a schema is cyclic: give its cycle a name");
  const out: Record<string, JsonSchema> = {};
  for (const id of [...named.values()].sort()) {
    const { $schema: _s, $id: _i, ...rest } = schemas[id] as JsonSchema;
    out[id] = rest;
  }
  return out;
}

/** A reference to a named component. */
export const ref = (id: string): JsonSchema => ({ $ref: `#/components/schemas/${id}` });
