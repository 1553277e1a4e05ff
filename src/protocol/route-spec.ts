import type { z } from "zod";
import type { USER_TYPES } from "./common.js";
import type { ErrorCode } from "./errors.js";

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
export type Listener = "public" | "internal";
export type RouteUserType = (typeof USER_TYPES)[number];

/** Who may call a route (contract §2). */
export interface RouteAuth {
  /** User types whose bearer token the route takes; empty: no token. */
  users: readonly RouteUserType[];
  /** The bearer may be left out (a sign-in that links an anonymous customer; a logout by cookie). */
  optional?: boolean;
  /** Admin operators only: an operator gets 403 FORBIDDEN. */
  admin?: boolean;
  /** Reads the `cc_refresh` cookie. */
  cookie?: boolean;
}

/** A success answer that is not JSON (the control-center page, its assets, metrics). */
export interface RawAnswer {
  contentType: string;
}

/** A success answer: a JSON body's schema, `null` for no body, or a raw content type. */
export type Answer = z.ZodType | null | RawAnswer;

/** One HTTP route as clients see it: what the documents are generated from. */
export interface RouteSpec {
  method: HttpMethod;
  /** The router's pattern: `:name` segments are path parameters. */
  path: string;
  listener: Listener;
  summary: string;
  description?: string;
  tag: string;
  auth: RouteAuth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** The JSON body (an empty body reads as `{}`). */
  body?: z.ZodType;
  /** Success answers by HTTP status. */
  answers: Readonly<Record<number, Answer>>;
  /** Codes this route may answer beyond the ones `routeErrorCodes` derives from its auth, body and query. */
  errors: readonly ErrorCode[];
  /** Takes an `Idempotency-Key` header (contract §7). */
  idempotent?: boolean;
  /** Request headers the route reads, besides Authorization and Idempotency-Key. */
  headers?: Readonly<Record<string, { required: boolean; description: string }>>;
  /** Served only with ENABLE_TEST_ROUTES=true. */
  testOnly?: boolean;
}

export const isRawAnswer = (a: Answer): a is RawAnswer =>
  a !== null && typeof a === "object" && "contentType" in a && !("_zod" in a);

/** Every code a route may answer: its own, and those that follow from its auth, input and method. */
export function routeErrorCodes(route: RouteSpec): ErrorCode[] {
  const codes = new Set<ErrorCode>(route.errors);
  if (route.auth.users.length > 0) {
    for (const c of ["UNAUTHENTICATED", "TOKEN_EXPIRED", "SESSION_REVOKED", "FORBIDDEN"] as const)
      codes.add(c);
  }
  if (route.body || route.query) codes.add("VALIDATION_FAILED");
  if (route.method !== "GET") codes.add("PAYLOAD_TOO_LARGE");
  if (route.idempotent) {
    for (const c of ["VALIDATION_FAILED", "IDEMPOTENCY_KEY_REUSED", "REQUEST_IN_PROGRESS"] as const)
      codes.add(c);
  }
  if (route.params) codes.add("NOT_FOUND");
  codes.add("DEPENDENCY_UNAVAILABLE");
  return [...codes];
}
