import fc from "fast-check";
import { expect } from "vitest";
import {
  ERROR_CODES,
  type ErrorCode,
  errorBodySchema,
  findRoute,
  type HttpMethod,
  isRawAnswer,
} from "../../src/protocol/index.js";
import { signIdenfyWebhook } from "./fake-idenfy.js";
import { HOSTILE_STRINGS, hostileRawBody, hostileValue, mutatedObject } from "./hostile-inputs.js";
import { arbitraryOf, type Schema } from "./json-schema-arbitrary.js";

/** Requests generated from an OpenAPI document, sent to a gateway, and their answers judged by it. */

export type FuzzUser = "customer" | "mitra" | "cc";
export type Tokens = Record<FuzzUser, { accessToken: string; refreshToken: string }>;

export interface RequestContext {
  /** A fresh auth session of each user type. */
  tokens: Tokens;
  /** Real values for fields of these names (see arbitraryOf). */
  hints: Readonly<Record<string, fc.Arbitrary<unknown>>>;
  /** A well-signed access token past its expiry. */
  expiredToken: string;
  /** Signs bodies of operations that document an `Idenfy-Signature` header. */
  webhookSecret: string;
}

export interface Operation {
  method: HttpMethod;
  path: string;
  op: Schema & {
    parameters?: (Schema & { name: string; in: string; required: boolean; schema: Schema })[];
    requestBody?: { content: Record<string, { schema: Schema }> };
    security: Record<string, string[]>[];
    "x-user-types": FuzzUser[];
    "x-error-codes": ErrorCode[];
  };
  server: string;
}

/** Every operation of an OpenAPI document, with the listener it is served on. */
export function operationsOf(openapi: Schema): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(openapi.paths as Record<string, Record<string, unknown>>)) {
    const server = ((item.servers as { url: string }[])[0] as { url: string }).url;
    for (const [method, op] of Object.entries(item)) {
      if (method === "servers") continue;
      out.push({ method: method.toUpperCase() as HttpMethod, path, op: op as Operation["op"], server });
    }
  }
  return out;
}

/** One generated request. */
export interface HttpCase {
  path: string;
  query: [string, string][];
  headers: Record<string, string>;
  body: string | undefined;
}

/** Percent-encoded as a client would (a lone surrogate goes as U+FFFD: it has no UTF-8). */
const enc = (s: string): string => encodeURIComponent(Buffer.from(s, "utf8").toString("utf8"));

/** Characters a path segment may carry without moving to another route (no dot segments, no `/?#`). */
const hostileSegment = fc.oneof(
  fc.constantFrom("%", "%zz", "%00", "x".repeat(300), "-1", "0", "00000000-0000-0000-0000-000000000000"),
  fc.constantFrom(...HOSTILE_STRINGS.filter((s) => s.length > 0 && s.length < 200)).map(enc),
  fc
    .string({ minLength: 1, maxLength: 40 })
    .filter((s) => !/^\.+$/.test(s))
    .map(enc),
);

const hostileHeaderValue = fc.constantFrom(
  "",
  "x".repeat(300),
  "\u00ff\u00fe",
  "\t",
  "Bearer",
  "a b c",
  "%00",
);

/**
 * Requests for one operation: each part (path parameters, query, body, token,
 * cookie, Idempotency-Key, content type, signature) is mostly valid for the
 * document and otherwise hostile, so a request is often wrong in one place
 * only and reaches deep into the handler.
 */
export function requestArbitrary(o: Operation, c: RequestContext): fc.Arbitrary<HttpCase> {
  const { tokens, hints: h } = c;
  const params = o.op.parameters ?? [];
  const pathParams = params.filter((p) => p.in === "path");
  const queryParams = params.filter((p) => p.in === "query");
  const idempotency = params.find((p) => p.in === "header" && p.name === "Idempotency-Key");

  const pathArb = fc
    .tuple(
      ...pathParams.map((p) =>
        fc.oneof(
          { arbitrary: arbitraryOf(p.schema, { hints: h }).map((v) => enc(String(v))), weight: 3 },
          {
            arbitrary: (h[p.name as keyof typeof h] ?? hostileSegment).map((v) => enc(String(v))),
            weight: 2,
          },
          { arbitrary: hostileSegment, weight: 2 },
        ),
      ),
    )
    .map((values) =>
      pathParams.reduce((path, p, i) => path.replace(`{${p.name}}`, values[i] as string), o.path),
    );

  const queryArb = fc
    .tuple(
      ...queryParams.map((p) =>
        fc.option(
          fc.oneof(
            { arbitrary: arbitraryOf(p.schema, { hints: h }).map((v) => String(v)), weight: 3 },
            { arbitrary: fc.constantFrom(...HOSTILE_STRINGS.filter((s) => s.length < 500)), weight: 1 },
          ),
          { nil: undefined, freq: p.required ? 8 : 2 },
        ),
      ),
      fc.option(
        fc.tuple(
          fc.constantFrom("zzz", "limit", "__proto__", "q[]"),
          fc.constantFrom(...HOSTILE_STRINGS.filter((s) => s.length < 500)),
        ),
        { freq: 3 },
      ),
    )
    .map(([...all]) => {
      const extra = all.pop() as [string, string] | null;
      const q: [string, string][] = [];
      queryParams.forEach((p, i) => {
        const v = all[i] as string | undefined;
        if (v !== undefined) q.push([p.name, v]);
      });
      if (extra) q.push(extra);
      return q;
    });

  const bodySchema = o.op.requestBody?.content["application/json"]?.schema;
  const validBody = bodySchema ? arbitraryOf(bodySchema, { hints: h }) : fc.constant({});
  const bodyArb: fc.Arbitrary<string | undefined> =
    o.method === "GET"
      ? fc.constant(undefined)
      : fc.oneof(
          { arbitrary: validBody.map((b) => JSON.stringify(b)), weight: 4 },
          { arbitrary: mutatedObject(bodySchema ?? {}, validBody).map((b) => JSON.stringify(b)), weight: 2 },
          { arbitrary: hostileValue.map((v) => JSON.stringify(v)), weight: 1 },
          { arbitrary: hostileRawBody, weight: 1 },
          { arbitrary: fc.constantFrom(undefined, "", "x".repeat(70 * 1024)), weight: 1 },
        );

  const users = o.op["x-user-types"];
  const cookie = o.op.security.some((s) => "ccRefreshCookie" in s);
  const right =
    users.length > 0
      ? fc.constantFrom(...users).map((u) => `Bearer ${tokens[u].accessToken}`)
      : fc.constant(undefined);
  const authArb: fc.Arbitrary<string | undefined> = fc.oneof(
    { arbitrary: right, weight: 6 },
    {
      arbitrary: fc.constantFrom(
        undefined,
        "Bearer not.a.jwt",
        "Basic YWRtaW46YWRtaW4=",
        `Bearer ${c.expiredToken}`,
        `Bearer ${tokens.customer.accessToken}`,
        `Bearer ${tokens.mitra.accessToken}`,
        `Bearer ${tokens.cc.accessToken}`,
      ),
      weight: 2,
    },
    { arbitrary: hostileHeaderValue, weight: 1 },
  );
  const cookieArb = cookie
    ? fc.option(
        fc.constantFrom(
          `cc_refresh=${tokens.cc.refreshToken}`,
          "cc_refresh=garbage",
          "cc_refresh=",
          "a=b; cc_refresh=%zz",
        ),
        { freq: 3 },
      )
    : fc.constant(null);
  const keyArb = idempotency
    ? fc.option(fc.oneof(arbitraryOf(idempotency.schema).map(String), hostileHeaderValue), { freq: 2 })
    : fc.constant(null);
  const typeArb = fc.constantFrom(
    "application/json",
    "application/json",
    "application/json",
    "text/plain",
    "",
  );
  // A documented signature header is mostly right (signed over the very body sent), so hostile bodies reach the parser.
  const signed = params.filter((p) => p.in === "header" && p.name === "Idenfy-Signature");
  const signArb = fc.constantFrom<"sign" | "none" | "bad">("sign", "sign", "sign", "none", "bad");

  return fc
    .record({
      path: pathArb,
      query: queryArb,
      body: bodyArb,
      auth: authArb,
      cookie: cookieArb,
      key: keyArb,
      type: typeArb,
      sign: signArb,
    })
    .map((r): HttpCase => {
      const headers: Record<string, string> = {};
      if (r.type) headers["content-type"] = r.type;
      if (r.auth !== undefined) headers.authorization = r.auth;
      if (r.cookie) headers.cookie = r.cookie;
      if (r.key !== null) headers["idempotency-key"] = r.key;
      for (const p of signed) {
        if (r.sign === "sign") headers[p.name] = signIdenfyWebhook(r.body ?? "", c.webhookSecret);
        if (r.sign === "bad") headers[p.name] = "00".repeat(32);
      }
      return { path: r.path, query: r.query, headers, body: r.body };
    });
}

export interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** Sends a case to the gateway's listener the operation lives on. */
export async function sendCase(
  urls: { publicUrl: string; internalUrl: string },
  o: Operation,
  c: HttpCase,
): Promise<HttpAnswer> {
  const base = o.server.endsWith(":8081") ? urls.internalUrl : urls.publicUrl;
  const qs = new URLSearchParams(c.query).toString();
  const res = await fetch(`${base}${c.path}${qs ? `?${qs}` : ""}`, {
    method: o.method,
    headers: c.headers,
    redirect: "manual",
    ...(c.body === undefined ? {} : { body: c.body }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** What an answer must be: a documented success of the right shape, or a declared contract refusal. */
export function checkAnswer(o: Operation, c: HttpCase, res: HttpAnswer): void {
  const what = `${o.method} ${c.path} → ${res.status} ${res.text.slice(0, 300)}\nrequest: ${JSON.stringify(c).slice(0, 600)}`;
  if (res.status >= 500 && res.status !== 503) throw new Error(`server error: ${what}`);
  const route = findRoute(o.method, o.path.replace(/\{(\w+)\}/g, ":$1"));
  if (!route) throw new Error(`no protocol route for ${o.method} ${o.path}`);
  const answer = route.answers[res.status];
  if (answer !== undefined) {
    if (answer === null || isRawAnswer(answer)) return;
    const body = JSON.parse(res.text) as unknown;
    const parsed = answer.safeParse(body);
    if (!parsed.success) throw new Error(`answer off its schema: ${parsed.error.message}\n${what}`);
    expect(parsed.data, what).toEqual(body);
    return;
  }
  if (res.status < 400) throw new Error(`undocumented success status: ${what}`);
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    throw new Error(`a refusal that is no JSON: ${what}`);
  }
  const parsed = errorBodySchema.safeParse(body);
  if (!parsed.success) throw new Error(`a refusal off the error schema (${parsed.error.message}): ${what}`);
  const code = parsed.data.error.code;
  if (ERROR_CODES[code].status !== res.status) throw new Error(`${code} with status ${res.status}: ${what}`);
  if (!o.op["x-error-codes"].includes(code))
    throw new Error(`${code} is not declared for the operation: ${what}`);
  if (res.status === 429 && !res.headers.get("retry-after"))
    throw new Error(`429 without Retry-After: ${what}`);
}
