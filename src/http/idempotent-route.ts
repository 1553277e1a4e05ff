import { z } from "zod";
import type { Principal } from "../auth/user-types.js";
import { issuesFromZod, validationFailed } from "../errors.js";
import { type Idempotency, idempotencyScope } from "../idempotency/idempotency.js";
import { idempotencyKeySchema } from "../protocol/index.js";
import { parseBody } from "./json-body.js";
import type { HttpRequest, HttpResponse } from "./types.js";

/** Lower-cased, as HttpRequest keeps header names. */
export const IDEMPOTENCY_HEADER = "idempotency-key";

/** The request's `Idempotency-Key`, if it sent one; a malformed one is 400 VALIDATION_FAILED. */
export function idempotencyKeyOf(req: Pick<HttpRequest, "headers">): string | undefined {
  const raw = req.headers[IDEMPOTENCY_HEADER];
  if (raw === undefined) return undefined;
  const parsed = idempotencyKeySchema.safeParse(raw);
  if (!parsed.success) {
    const issues = issuesFromZod(parsed.error.issues).map((i) => ({ ...i, path: "Idempotency-Key" }));
    throw validationFailed(issues, "Idempotency-Key header is malformed");
  }
  return parsed.data;
}

/**
 * Runs a creating route's handler under its `Idempotency-Key` (contract §7).
 * Call it after authentication (the key is scoped to the principal) with a
 * fixed route name; the handler does the rest (body schema, the use case).
 * What a replay answers is the whole `{status, body, headers}` of the first
 * response (its JSON body only: a raw body cannot be kept). The request is
 * identified by its JSON body and path parameters, so one key sent to
 * another resource of the same route is a different request (422).
 */
export function idempotentRoute(
  idempotency: Idempotency,
  req: HttpRequest,
  principal: Pick<Principal, "userType" | "userId">,
  route: string,
  handler: () => Promise<HttpResponse>,
): Promise<HttpResponse> {
  const key = idempotencyKeyOf(req);
  if (key === undefined) return handler();
  // A body that is not JSON answers 400 here, before a claim is taken.
  const body = parseBody(req, z.unknown());
  return idempotency.run(
    { scope: idempotencyScope(principal, route), key, body: { params: req.params, body } },
    handler,
  );
}
