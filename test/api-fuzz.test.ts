import { readFileSync } from "node:fs";
import fc from "fast-check";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadUser } from "../src/auth/users.js";
import { ERROR_CODES, type ErrorCode } from "../src/protocol/index.js";
import { checkFrameAnswer, checkServerFrame, clientFrameMessagesOf } from "./support/frame-fuzz.js";
import { TEST_JWT_SECRET, type TestGateway } from "./support/gateway.js";
import { hostileRawBody, hostileValue, mutatedObject } from "./support/hostile-inputs.js";
import {
  checkAnswer,
  type HttpCase,
  operationsOf,
  requestArbitrary,
  sendCase,
  type FuzzUser as UserType,
} from "./support/http-fuzz.js";
import { arbitraryOf, type Schema } from "./support/json-schema-arbitrary.js";
import { seedMitra } from "./support/mitras.js";
import { ADMIN, ADMIN_ENV } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";
import { WsClient, wsUrl } from "./support/ws-client.js";

/**
 * Fuzz from the documents: every operation of docs/api/openapi.json and every
 * client frame of docs/api/asyncapi.json gets generated valid, boundary and
 * hostile inputs against a real gateway. Zero 500s, zero crashes, every
 * refusal a contract code with its status and one the operation declares;
 * every success shaped as the document says.
 */

const WEBHOOK_SECRET = "fuzz-webhook-secret";
const ctx = useGateways({
  env: {
    ...QUIET_SWEEPS,
    ...ADMIN_ENV,
    ENABLE_TEST_ROUTES: "true",
    // The development provider: verification routes and the webhook run past "not configured".
    IDENFY_DEV_MODE: "true",
    IDENFY_WEBHOOK_SECRET: WEBHOOK_SECRET,
  },
});
const gw = (): TestGateway => ctx.gateways[0] as TestGateway;

const readDoc = (name: string): Schema =>
  JSON.parse(readFileSync(new URL(`../docs/api/${name}`, import.meta.url), "utf8")) as Schema;
const openapi = readDoc("openapi.json");
const asyncapi = readDoc("asyncapi.json");

/**
 * Time for the whole file stays well under a minute: each operation gets up to
 * RUNS inputs within its slice, and at least MIN_RUNS however slow it is
 * (bcrypt-bound routes take ~230 ms an input).
 */
const HTTP_MS_PER_OPERATION = 500;
const WS_MS_PER_FRAME_TYPE = 1500;
const RUNS = 40;
const MIN_RUNS = 6;

interface World {
  customerId: string;
  mitraId: string;
  mitraPhone: string;
  adminId: string;
  sessionId: string;
  seed: number;
}
const world = {} as World;
const sockets: WsClient[] = [];
const seen = { requests: 0, byStatus: new Map<number, number>(), frames: 0 };

beforeAll(async () => {
  const g = gw();
  const customer = await g.gateway.services.auth.signInAnonymous("Fuzz", {});
  world.customerId = customer.pair.user.id;
  world.mitraId = await seedMitra(g.pool, { max: 3 });
  const phone = await g.pool.query<{ phone: string }>("SELECT phone FROM mitras WHERE id = $1", [
    world.mitraId,
  ]);
  world.mitraPhone = (phone.rows[0] as { phone: string }).phone;
  const admin = await g.pool.query<{ id: string }>("SELECT id FROM control_center_users WHERE email = $1", [
    ADMIN.email,
  ]);
  world.adminId = (admin.rows[0] as { id: string }).id;
  const session = await g.pool.query<{ id: string }>(
    `INSERT INTO chat_sessions (customer_id, mitra_id, status, created_at, paid_at, expires_at)
     VALUES ($1, $2, 'active', now(), now(), now() + interval '1 hour') RETURNING id`,
    [world.customerId, world.mitraId],
  );
  world.sessionId = (session.rows[0] as { id: string }).id;
  world.seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
});

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()));
});

/** A fresh auth session of the world's user of that type (a logout in one run cannot starve the next). */
async function signIn(type: UserType): Promise<{ accessToken: string; refreshToken: string }> {
  const id = { customer: world.customerId, mitra: world.mitraId, cc: world.adminId }[type];
  const user = await loadUser(gw().pool, type, id);
  if (!user) throw new Error(`no ${type} ${id}`);
  return (await gw().gateway.services.auth.signIn(gw().pool, user.view)).pair;
}

/** Real values for fields of these names, mixed into the generated ones so valid inputs reach real rows. */
function hints(tokens: Partial<Record<UserType, { accessToken: string; refreshToken: string }>>) {
  const knownIds = fc.constantFrom(world.sessionId, world.customerId, world.mitraId, world.adminId);
  const any = Object.values(tokens);
  return {
    id: knownIds,
    sessionId: fc.constant(world.sessionId),
    requestId: knownIds,
    phone: fc.constantFrom(world.mitraPhone, "081234567890", "+6281234567891", "6281234567892"),
    email: fc.constantFrom(ADMIN.email, "nobody@halo.test"),
    ...(any.length > 0
      ? {
          accessToken: fc.constantFrom(...any.map((t) => t.accessToken)),
          refreshToken: fc.constantFrom(...any.map((t) => t.refreshToken)),
        }
      : {}),
  };
}

const expiredToken = (): string => {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign(
    { sub: world.customerId, typ: "customer", sid: world.customerId, iat: now - 120, exp: now - 60 },
    TEST_JWT_SECRET,
    { algorithm: "HS256" },
  );
};

const FUZZ_OPTIONS = { numRuns: RUNS, endOnFailure: true } as const;

/** Runs `check` on each generated input until the slice is spent (after MIN_RUNS), then lets the rest pass. */
function withinSlice<T>(ms: number, check: (input: T) => Promise<void>): (input: T) => Promise<void> {
  const deadline = Date.now() + ms;
  let runs = 0;
  return async (input) => {
    if (runs >= MIN_RUNS && Date.now() > deadline) return;
    runs++;
    await check(input);
  };
}

describe("fuzzing every OpenAPI operation", () => {
  it("answers every generated request with a documented success or a declared contract refusal, never a 500", async () => {
    const started = Date.now();
    const ops = operationsOf(openapi);
    expect(ops.length).toBeGreaterThan(50);
    const slowest: [string, number][] = [];
    for (const o of ops) {
      const opStarted = Date.now();
      const tokens = {
        customer: await signIn("customer"),
        mitra: await signIn("mitra"),
        cc: await signIn("cc"),
      };
      const check = withinSlice<HttpCase>(HTTP_MS_PER_OPERATION, async (c) => {
        const res = await sendCase(gw(), o, c);
        seen.requests++;
        seen.byStatus.set(res.status, (seen.byStatus.get(res.status) ?? 0) + 1);
        checkAnswer(o, c, res);
      });
      const context = {
        tokens,
        hints: hints(tokens),
        expiredToken: expiredToken(),
        webhookSecret: WEBHOOK_SECRET,
      };
      await fc.assert(fc.asyncProperty(requestArbitrary(o, context), check), {
        ...FUZZ_OPTIONS,
        seed: world.seed,
      });
      slowest.push([`${o.method} ${o.path}`, Date.now() - opStarted]);
    }
    slowest.sort(([, a], [, b]) => b - a);
    const health = await fetch(`${gw().internalUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(seen.requests).toBeGreaterThan(ops.length * 5);
    // Some inputs got through: the fuzz reached the handlers, not only the schemas.
    expect([...seen.byStatus.keys()].filter((s) => s < 300).length).toBeGreaterThan(2);
    console.info(
      `HTTP fuzz: ${seen.requests} requests over ${ops.length} operations in ${Date.now() - started} ms (seed ${world.seed}); statuses ${JSON.stringify(Object.fromEntries(seen.byStatus))}; slowest ${JSON.stringify(slowest.slice(0, 4))}`,
    );
  }, 60_000);
});

describe("fuzzing every AsyncAPI client frame", () => {
  it("answers every generated frame with its documented ack or a declared contract error, and keeps the socket open", async () => {
    const started = Date.now();
    const frames = clientFrameMessagesOf(asyncapi);
    expect(frames.length).toBeGreaterThanOrEqual(9);
    let sentId = 0;
    for (const { address, message } of frames) {
      const users = message["x-senders"].filter((u) =>
        address === "/internal/ws" ? u === "cc" : u !== "cc",
      );
      for (const user of users) {
        const token = await signIn(user);
        const base = address === "/internal/ws" ? gw().internalUrl : gw().publicUrl;
        const ws = await WsClient.connect(wsUrl(base, address), { token: token.accessToken });
        sockets.push(ws);
        await ws.next("hello");
        const h = hints({ [user]: token });
        const valid = arbitraryOf(message.payload, { hints: h });
        const frameArb = fc.oneof(
          { arbitrary: valid.map((f) => JSON.stringify(f)), weight: 4 },
          {
            arbitrary: mutatedObject(message.payload, valid).map((f) =>
              JSON.stringify({ ...(f as object), type: message.name }),
            ),
            weight: 3,
          },
          { arbitrary: hostileValue.map((v) => JSON.stringify(v)), weight: 1 },
          { arbitrary: hostileRawBody.filter((s) => Buffer.byteLength(s) < 16 * 1024), weight: 1 },
        );
        // Most frames get our own id so the answer can be told apart; the rest keep whatever id they have.
        const caseArb = fc.record({ text: frameArb, ownId: fc.boolean() });
        const check = withinSlice<{ text: string; ownId: boolean }>(
          WS_MS_PER_FRAME_TYPE,
          async ({ text, ownId }) => {
            let value: unknown;
            try {
              value = JSON.parse(text);
            } catch {
              value = undefined;
            }
            const isObject = value !== null && typeof value === "object" && !Array.isArray(value);
            if (ownId && isObject) {
              const id = `f${++sentId}`;
              const answer = await ws.request({ ...(value as object), id }, 5000);
              checkFrameAnswer(message, answer, text);
            } else {
              ws.send(text);
            }
            seen.frames++;
          },
        );
        await fc.assert(fc.asyncProperty(caseArb, check), { ...FUZZ_OPTIONS, seed: world.seed });
        // Quiet again: whatever had no id is answered by now.
        await ws.request({ type: "fuzz.sentinel" }, 5000);
        await new Promise((r) => setTimeout(r, 100));
        for (const f of ws.frames) {
          if (f.type === "error") expect(ERROR_CODES[f.code as ErrorCode], JSON.stringify(f)).toBeDefined();
          checkServerFrame(f);
        }
        expect(ws.closedNow, `${message.name} as ${user}`).toBeUndefined();
      }
    }
    console.info(
      `WebSocket fuzz: ${seen.frames} frames over ${frames.length} frame types in ${Date.now() - started} ms`,
    );
  }, 60_000);

  it("an oversized frame closes only its own socket with 1009, and the gateway keeps serving", async () => {
    const token = await signIn("customer");
    const ws = await WsClient.connect(wsUrl(gw().publicUrl, "/ws"), { token: token.accessToken });
    sockets.push(ws);
    await ws.next("hello");
    ws.send(JSON.stringify({ type: "chat.send", id: "big", text: "x".repeat(17 * 1024) }));
    expect((await ws.closed).code).toBe(1009);
    const again = await WsClient.connect(wsUrl(gw().publicUrl, "/ws"), { token: token.accessToken });
    sockets.push(again);
    await again.next("hello");
    expect((await again.request({ type: "fuzz.sentinel" })).code).toBe("UNKNOWN_TYPE");
    expect((await fetch(`${gw().internalUrl}/healthz`)).status).toBe(200);
  });
});

describe("what the fuzz found", () => {
  it("a NUL in an operator's email or a test-mail address is refused as VALIDATION_FAILED, never a 500", async () => {
    const email = "admin\u0000@halo.test";
    const cases: [string, RequestInit][] = [
      [
        "/internal/auth/login",
        { method: "POST", body: JSON.stringify({ email, password: "Wr0ng-password" }) },
      ],
      ["/internal/auth/password-reset/request", { method: "POST", body: JSON.stringify({ email }) }],
      [`/internal/_test/mail?to=${encodeURIComponent(email)}`, { method: "GET" }],
    ];
    for (const [path, init] of cases) {
      const res = await fetch(`${gw().internalUrl}${path}`, init);
      const body = (await res.json()) as { error: { code: string; issues: { path: string }[] } };
      expect({ path, status: res.status, code: body.error.code }).toEqual({
        path,
        status: 400,
        code: "VALIDATION_FAILED",
      });
    }
  });
});
