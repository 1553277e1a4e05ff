import type { z } from "zod";
import { issuesFromZod, validationFailed } from "../errors.js";
import type { HttpRequest } from "./types.js";

/**
 * Parses the request body as JSON and validates it (contract §1): an empty
 * body is `{}`, a body that is not JSON or fails the schema is 400
 * VALIDATION_FAILED with `issues`.
 */
export function parseBody<S extends z.ZodType>(req: HttpRequest, schema: S): z.infer<S> {
  let value: unknown = {};
  if (req.body.length > 0) {
    try {
      value = JSON.parse(req.body.toString("utf8"));
    } catch {
      throw validationFailed([{ path: "", message: "Body is not valid JSON" }], "Body is not valid JSON");
    }
  }
  return parseValue(value, schema);
}

/** Validates a query string (as a plain object of its first values). */
export function parseQuery<S extends z.ZodType>(req: HttpRequest, schema: S): z.infer<S> {
  return parseValue(Object.fromEntries(req.query), schema);
}

export function parseValue<S extends z.ZodType>(value: unknown, schema: S): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationFailed(issuesFromZod(result.error.issues));
  return result.data;
}
