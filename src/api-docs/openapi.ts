import type { z } from "zod";
import {
  ERROR_CODES,
  type ErrorCode,
  errorStatus,
  idempotencyKeySchema,
  isRawAnswer,
  ROUTES,
  type RouteSpec,
  routeErrorCodes,
} from "../protocol/index.js";
import { componentSchemas, inlineSchema, type JsonSchema, ref } from "./json-schema.js";
import { modelNames, operationId } from "./models.js";

/** The protocol's version (contract v1); the documents carry it as `info.version`. */
export const API_VERSION = "1.0.0";

const SERVERS = {
  public: {
    url: "http://localhost:8080",
    description: "public listener (PUBLIC_PORT): /api/**, /webhooks/**",
  },
  internal: {
    url: "http://127.0.0.1:8081",
    description:
      "internal listener (INTERNAL_PORT, INTERNAL_HOST): /internal/**, /healthz, /readyz, /metrics",
  },
} as const;

/** `/api/client/sessions/:id` → `/api/client/sessions/{id}`. */
export const openApiPath = (pattern: string): string => pattern.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

/**
 * The OpenAPI 3.1 document of every HTTP route, generated from the protocol
 * module (`npm run docs:api` writes it to docs/api/openapi.json).
 */
export function buildOpenApi(routes: readonly RouteSpec[] = ROUTES): JsonSchema {
  const named = modelNames();
  for (const route of routes) {
    for (const [status, answer] of Object.entries(route.answers)) {
      if (answer && !isRawAnswer(answer) && !named.has(answer))
        named.set(answer, `${capitalise(operationId(route.method, route.path))}${status}`);
    }
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    paths[path] ??= { servers: [SERVERS[route.listener]] };
    (paths[path] as Record<string, unknown>)[route.method.toLowerCase()] = operation(route, named);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "halo-gateway HTTP API",
      version: API_VERSION,
      description:
        "Generated from src/protocol by `npm run docs:api`; do not edit by hand. Errors are " +
        '`{"error":{"code","message",…}}`; every 429 carries `retryAfterSeconds` and `Retry-After`. ' +
        "The WebSocket frames are in asyncapi.json.",
    },
    servers: [SERVERS.public, SERVERS.internal],
    tags: [...new Set(routes.map((r) => r.tag))].sort().map((name) => ({ name })),
    paths,
    components: {
      schemas: componentSchemas(named, "output", "draft-2020-12"),
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "an access token (HS256)",
        },
        ccRefreshCookie: {
          type: "apiKey",
          in: "cookie",
          name: "cc_refresh",
          description: "the operator's refresh token",
        },
      },
    },
  };
}

function operation(route: RouteSpec, named: ReadonlyMap<z.ZodType, string>): Record<string, unknown> {
  const op: Record<string, unknown> = {
    operationId: operationId(route.method, route.path),
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: security(route),
    "x-user-types": route.auth.users,
  };
  if (route.auth.admin) op["x-admin-only"] = true;
  if (route.testOnly) op["x-test-only"] = true;
  if (route.idempotent) op["x-idempotent"] = true;

  const parameters = [
    ...objectParameters(route.params, "path"),
    ...objectParameters(route.query, "query"),
    ...(route.idempotent
      ? [
          {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            description: "same key and body within 24 h: the first result (contract §7)",
            schema: inlineSchema(idempotencyKeySchema, "input", "draft-2020-12"),
          },
        ]
      : []),
    ...Object.entries(route.headers ?? {}).map(([name, h]) => ({
      name,
      in: "header",
      required: h.required,
      description: h.description,
      schema: { type: "string" },
    })),
  ];
  if (parameters.length > 0) op.parameters = parameters;

  if (route.body) {
    op.requestBody = {
      // An empty body reads as `{}` (contract §1).
      required: false,
      content: { "application/json": { schema: inlineSchema(route.body, "input", "draft-2020-12") } },
    };
  }
  op.responses = { ...successResponses(route, named), ...errorResponses(routeErrorCodes(route)) };
  op["x-error-codes"] = routeErrorCodes(route);
  return op;
}

function security(route: RouteSpec): Record<string, string[]>[] {
  const { users, optional, cookie } = route.auth;
  const options: Record<string, string[]>[] = [];
  if (users.length > 0) options.push({ bearer: [] });
  if (cookie) options.push({ ccRefreshCookie: [] });
  if (options.length === 0 || (optional && !cookie)) options.push({});
  return options;
}

/** The fields of a params or query object, one parameter each. */
function objectParameters(
  schema: z.ZodObject | undefined,
  where: "path" | "query",
): Record<string, unknown>[] {
  if (!schema) return [];
  const json = inlineSchema(schema, "input", "draft-2020-12");
  const required = new Set((json.required as string[] | undefined) ?? []);
  return Object.entries((json.properties ?? {}) as Record<string, JsonSchema>).map(([name, s]) => {
    const { description, ...fieldSchema } = s;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(typeof description === "string" ? { description } : {}),
      schema: fieldSchema,
    };
  });
}

function successResponses(route: RouteSpec, named: ReadonlyMap<z.ZodType, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(route.answers)) {
    const description = status === "302" ? "redirect" : status === "204" ? "done, no body" : "success";
    if (answer === null) {
      out[status] =
        status === "302"
          ? { description, headers: { Location: { schema: { type: "string" } } } }
          : { description };
    } else if (isRawAnswer(answer)) {
      out[status] = { description, content: { [answer.contentType]: { schema: { type: "string" } } } };
    } else {
      out[status] = {
        description,
        content: { "application/json": { schema: ref(named.get(answer) as string) } },
      };
    }
  }
  return out;
}

function errorResponses(codes: readonly ErrorCode[]): Record<string, unknown> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes)
    byStatus.set(errorStatus(code), [...(byStatus.get(errorStatus(code)) ?? []), code]);
  const out: Record<string, unknown> = {};
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    out[String(status)] = {
      description: list.map((c) => `\`${c}\`: ${ERROR_CODES[c].when}`).join("; "),
      ...(status === 429
        ? { headers: { "Retry-After": { description: "seconds", schema: { type: "integer" } } } }
        : {}),
      content: { "application/json": { schema: ref("Error") } },
      "x-error-codes": list,
    };
  }
  return out;
}

const capitalise = (s: string): string => (s[0]?.toUpperCase() ?? "") + s.slice(1);
