import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";
import { AppError } from "../src/errors.js";
import { freePort } from "../src/free-port.js";
import { createVerificationProvider } from "../src/verification/create-provider.js";
import { DevProvider } from "../src/verification/dev-provider.js";
import { IdenfyProvider, idenfySignatureValid } from "../src/verification/idenfy-provider.js";
import { ProviderError, type VerificationStatus } from "../src/verification/provider.js";
import {
  FakeIdenfy,
  type IdenfyOverall,
  idenfyWebhookBody,
  signedIdenfyWebhook,
} from "./support/fake-idenfy.js";
import { TestClock } from "./support/gateway.js";

const fake = new FakeIdenfy();
const FIXED_NOW = new Date("2030-01-02T03:04:05.000Z");
const provider = (opts: { timeoutMs?: number; apiSecret?: string } = {}): IdenfyProvider =>
  new IdenfyProvider({
    apiUrl: fake.url,
    apiKey: fake.apiKey,
    apiSecret: opts.apiSecret ?? fake.apiSecret,
    now: () => FIXED_NOW,
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
  });

/** The rejection of a promise that must reject. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

/** A thrown error of a function that must throw. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a throw");
}

function expectProviderError(err: Error, message: RegExp): void {
  expect(err).toBeInstanceOf(ProviderError);
  expect((err as ProviderError).status).toBe(502);
  expect((err as ProviderError).code).toBe("VERIFICATION_PROVIDER_ERROR");
  expect(err.message).toMatch(message);
  expect(err.message).not.toContain(fake.apiSecret);
  expect(err.message).not.toContain(fake.apiKey);
}

beforeAll(() => fake.start());
afterAll(() => fake.stop());
beforeEach(() => fake.reset());

describe("iDenfy token and status APIs", () => {
  it("a session is minted with Basic auth, and the answer's fields become the session", async () => {
    const session = await provider().createSession("mitra-42");

    expect(fake.tokenCalls).toBe(1);
    const basic = `Basic ${Buffer.from(`${fake.apiKey}:${fake.apiSecret}`).toString("base64")}`;
    expect(fake.lastAuthorization).toBe(basic);
    expect(fake.lastTokenBody).toEqual({
      clientId: "mitra-42",
      tokenType: "IDENTIFICATION",
      expiryTime: 86400,
    });

    const minted = fake.sessions.get(session.scanRef);
    expect(minted?.clientId).toBe("mitra-42");
    expect(session.authToken).toBe(minted?.authToken);
    expect(session.redirectUrl).toBe(`${fake.url}/api/v2/redirect?authToken=${minted?.authToken}`);
    expect(session.expiresAt.getTime()).toBe(FIXED_NOW.getTime() + 86400 * 1000);
  });

  it("an answer without a redirectUrl gets the documented redirect URL", async () => {
    fake.redirectUrlInAnswer = false;
    const session = await provider().createSession("mitra-43");
    expect(session.redirectUrl).toBe(
      `${fake.url}/api/v2/redirect?authToken=${encodeURIComponent(session.authToken)}`,
    );
  });

  const mapping: [IdenfyOverall, VerificationStatus, string | null][] = [
    ["ACTIVE", "in_progress", null],
    ["REVIEWING", "in_progress", null],
    ["APPROVED", "approved", null],
    ["DENIED", "denied", "face: FACE_MISMATCH"],
    ["SUSPECTED", "suspected", "mismatch: NAME"],
    ["EXPIRED", "expired", null],
    ["EXPIRED-DELETED", "expired", "EXPIRED-DELETED"],
    ["DELETED", "expired", "DELETED"],
    ["ARCHIVED", "expired", "ARCHIVED"],
  ];
  it.each(mapping)("the status API's %s reads as %s", async (overall, status, reason) => {
    const p = provider();
    const { scanRef } = await p.createSession("mitra-status");
    fake.setStatus(scanRef, overall);
    expect(await p.getStatus(scanRef)).toEqual({ status, reason });
    expect(fake.statusCallsFor(scanRef)).toBe(1);
    expect(fake.lastAuthorization).toMatch(/^Basic /);
  });

  it("a new session reads as in progress, and an expired one as expired", async () => {
    const p = provider();
    const active = await p.createSession("mitra-a");
    fake.expireNext();
    const expired = await p.createSession("mitra-b");
    expect((await p.getStatus(active.scanRef)).status).toBe("in_progress");
    expect((await p.getStatus(expired.scanRef)).status).toBe("expired");
  });

  it("a denial's reason names the manual review's findings over the automatic ones, and every tag", async () => {
    const p = provider();
    const { scanRef } = await p.createSession("mitra-denied");
    fake.setStatus(scanRef, "DENIED", {
      autoDocument: "DOC_VALIDATED",
      manualDocument: "DOC_EXPIRED",
      autoFace: "FACE_MISMATCH",
      manualFace: "FACE_MATCH",
      fraudTags: ["DUPLICATE_FACE", "VIRTUAL_CAMERA"],
      mismatchTags: ["DATE_OF_BIRTH"],
    });
    expect(await p.getStatus(scanRef)).toEqual({
      status: "denied",
      reason: "document: DOC_EXPIRED; fraud: DUPLICATE_FACE, VIRTUAL_CAMERA; mismatch: DATE_OF_BIRTH",
    });
  });

  it("a verdict the status API marks as not final is still in progress", async () => {
    const p = provider();
    const { scanRef } = await p.createSession("mitra-prelim");
    fake.setStatus(scanRef, "DENIED", { autoFace: "FACE_MISMATCH", final: false });
    expect(await p.getStatus(scanRef)).toEqual({ status: "in_progress", reason: null });
  });

  it("wrong credentials are a provider error that names iDenfy's identifier and not the secret", async () => {
    const err = await rejection(provider({ apiSecret: "not-the-secret" }).createSession("mitra-x"));
    expectProviderError(err, /^iDenfy token API answered 401 \(UNAUTHORIZED\)$/);
    expect(err.message).not.toContain("not-the-secret");
  });

  it("an iDenfy that does not answer in time is a provider error, not a hung request", async () => {
    fake.hang = true;
    const started = Date.now();
    const err = await rejection(provider({ timeoutMs: 200 }).createSession("mitra-slow"));
    expectProviderError(err, /^iDenfy token API did not answer within 200 ms$/);
    expect(Date.now() - started).toBeLessThan(2000);

    const status = await rejection(provider({ timeoutMs: 200 }).getStatus("any-scan-ref"));
    expectProviderError(status, /^iDenfy status API did not answer within 200 ms$/);
  });

  it("a slow iDenfy that answers within the timeout is fine", async () => {
    fake.latencyMs = 100;
    const session = await provider({ timeoutMs: 2000 }).createSession("mitra-latency");
    expect(fake.sessions.has(session.scanRef)).toBe(true);
  });

  it("a 500 is a provider error, and the next call goes through", async () => {
    const p = provider();
    fake.failNext(1, 500);
    expectProviderError(
      await rejection(p.createSession("mitra-500")),
      /^iDenfy token API answered 500 \(INTERNAL_ERROR\)$/,
    );
    const { scanRef } = await p.createSession("mitra-500");
    fake.failNext(1, 503);
    expectProviderError(await rejection(p.getStatus(scanRef)), /^iDenfy status API answered 503/);
    expect((await p.getStatus(scanRef)).status).toBe("in_progress");
    expect(fake.tokenCalls).toBe(2);
    expect(fake.statusCalls).toBe(2);
  });

  it("an unknown scanRef is a provider error", async () => {
    expectProviderError(
      await rejection(provider().getStatus("no-such-scan")),
      /^iDenfy status API answered 404/,
    );
  });

  it("an answer that is not JSON is a provider error", async () => {
    const p = provider();
    fake.malformNext("not-json");
    expectProviderError(
      await rejection(p.createSession("mitra-html")),
      /^iDenfy token API answered 200 with a body that is not JSON$/,
    );
    const { scanRef } = await p.createSession("mitra-html");
    fake.malformNext("not-json");
    expectProviderError(await rejection(p.getStatus(scanRef)), /not JSON/);
  });

  it("an answer of an unexpected shape is a provider error that names the fields", async () => {
    const p = provider();
    fake.malformNext("wrong-shape");
    expectProviderError(
      await rejection(p.createSession("mitra-shape")),
      /^iDenfy token API answered an unexpected shape at scanRef$/,
    );
    const { scanRef } = await p.createSession("mitra-shape");
    fake.malformNext("wrong-shape");
    expectProviderError(
      await rejection(p.getStatus(scanRef)),
      /^iDenfy status API answered an unexpected shape at status$/,
    );
    fake.malformNext("unknown-status");
    expectProviderError(await rejection(p.getStatus(scanRef)), /unexpected shape at status/);
  });

  it("an iDenfy nobody listens at is a provider error", async () => {
    const port = await freePort();
    const p = new IdenfyProvider({
      apiUrl: `http://127.0.0.1:${port}`,
      apiKey: "k",
      apiSecret: "s",
      timeoutMs: 2000,
    });
    expectProviderError(
      await rejection(p.createSession("mitra-down")),
      /^iDenfy token API is unreachable \(ECONNREFUSED\)$/,
    );
  });
});

describe("iDenfy webhooks", () => {
  const SECRET = "webhook-signing-key";

  it("a documented, signed callback verifies and is read", () => {
    const { body, headers } = signedIdenfyWebhook(SECRET, "scan-1", "APPROVED");
    const raw = Buffer.from(body);
    expect(idenfySignatureValid(raw, headers["Idenfy-Signature"], SECRET)).toBe(true);
    expect(provider().parseWebhook(JSON.parse(body))).toEqual({
      scanRef: "scan-1",
      status: "approved",
      reason: null,
    });
  });

  it("a tampered body, another key, or a missing or malformed signature does not verify", () => {
    const { body, headers } = signedIdenfyWebhook(SECRET, "scan-2", "DENIED");
    const sig = headers["Idenfy-Signature"];
    expect(idenfySignatureValid(Buffer.from(body.replace("DENIED", "APPROVED")), sig, SECRET)).toBe(false);
    expect(idenfySignatureValid(Buffer.from(body), sig, "another-key")).toBe(false);
    expect(idenfySignatureValid(Buffer.from(body), undefined, SECRET)).toBe(false);
    expect(idenfySignatureValid(Buffer.from(body), "zz", SECRET)).toBe(false);
    expect(idenfySignatureValid(Buffer.from(body), sig?.toUpperCase(), SECRET)).toBe(true);
  });

  it("final verdicts carry iDenfy's reasons; a preliminary one is still in progress", () => {
    const p = provider();
    expect(p.parseWebhook(idenfyWebhookBody("s-d", "DENIED", { autoDocument: "DOC_NOT_FOUND" }))).toEqual({
      scanRef: "s-d",
      status: "denied",
      reason: "document: DOC_NOT_FOUND; face: FACE_MISMATCH",
    });
    expect(
      p.parseWebhook(
        idenfyWebhookBody("s-s", "SUSPECTED", { fraudTags: ["DUPLICATE_FACE"], mismatchTags: [] }),
      ),
    ).toEqual({ scanRef: "s-s", status: "suspected", reason: "fraud: DUPLICATE_FACE" });
    expect(p.parseWebhook(idenfyWebhookBody("s-p", "APPROVED", { final: false }))).toEqual({
      scanRef: "s-p",
      status: "in_progress",
      reason: null,
    });
    expect(p.parseWebhook(idenfyWebhookBody("s-e", "EXPIRED"))).toEqual({
      scanRef: "s-e",
      status: "expired",
      reason: null,
    });
  });

  it("the fake's webhook for a minted session says its current status", async () => {
    const p = provider();
    const { scanRef } = await p.createSession("mitra-hook");
    fake.setStatus(scanRef, "SUSPECTED");
    const { body, headers } = fake.webhook(SECRET, scanRef);
    expect(idenfySignatureValid(Buffer.from(body), headers["Idenfy-Signature"], SECRET)).toBe(true);
    expect(JSON.parse(body).clientId).toBe("mitra-hook");
    expect(p.parseWebhook(JSON.parse(body))).toEqual({
      scanRef,
      status: "suspected",
      reason: "mismatch: NAME",
    });
  });

  const garbage: [string, unknown][] = [
    ["null", null],
    ["a string", "APPROVED"],
    ["an array", [1, 2]],
    ["an empty object", {}],
    ["no status", { final: true, scanRef: "s" }],
    ["no scanRef", { final: true, status: { overall: "APPROVED" } }],
    ["no final", { scanRef: "s", status: { overall: "APPROVED" } }],
    ["an undocumented status", { final: true, scanRef: "s", status: { overall: "MAYBE" } }],
    [
      "tags that are not a list",
      { final: true, scanRef: "s", status: { overall: "DENIED", fraudTags: "X" } },
    ],
  ];
  it.each(garbage)("a body with %s is 400 VALIDATION_FAILED", (_name, body) => {
    const err = thrown(() => provider().parseWebhook(body));
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(400);
    expect((err as AppError).code).toBe("VALIDATION_FAILED");
    expect((err as AppError).details.issues?.length).toBeGreaterThan(0);
  });
});

describe("the development provider", () => {
  it("a session is in progress until the configured delay has passed, then approved", async () => {
    const clock = new TestClock();
    const dev = new DevProvider({ now: clock.now, approveAfterSeconds: 30 });
    const session = await dev.createSession("mitra-dev");
    expect(new URL(session.redirectUrl).searchParams.get("authToken")).toBe(session.authToken);
    expect(session.expiresAt.getTime()).toBeGreaterThan(clock.now().getTime() + 30_000);

    expect(await dev.getStatus(session.scanRef)).toEqual({ status: "in_progress", reason: null });
    clock.advance(29_000);
    expect((await dev.getStatus(session.scanRef)).status).toBe("in_progress");
    clock.advance(1_000);
    expect(await dev.getStatus(session.scanRef)).toEqual({ status: "approved", reason: null });

    // Another process (or this one restarted) answers the same: the scanRef carries the state.
    expect(
      (await new DevProvider({ now: clock.now, approveAfterSeconds: 30 }).getStatus(session.scanRef)).status,
    ).toBe("approved");
  });

  it("two sessions get distinct references, and a scanRef it did not mint is a provider error", async () => {
    const dev = new DevProvider({ now: () => FIXED_NOW, approveAfterSeconds: 10 });
    const [a, b] = await Promise.all([dev.createSession("m"), dev.createSession("m")]);
    expect(a.scanRef).not.toBe(b.scanRef);
    expect(a.authToken).not.toBe(b.authToken);
    expect(await rejection(dev.getStatus("ec6a7108-8c26-11e9-9758-309c231b1bac"))).toBeInstanceOf(
      ProviderError,
    );
  });
});

describe("choosing the provider from the configuration", () => {
  const now = (): Date => FIXED_NOW;

  it("dev mode wins; iDenfy needs both key and secret; otherwise there is none", () => {
    const dev = createVerificationProvider(
      loadConfig({ IDENFY_DEV_MODE: "true", IDENFY_API_KEY: "k", IDENFY_API_SECRET: "s" }),
      now,
    );
    expect(dev).toBeInstanceOf(DevProvider);
    expect(dev?.name).toBe("dev");
    const idenfy = createVerificationProvider(
      loadConfig({ IDENFY_API_KEY: "k", IDENFY_API_SECRET: "s" }),
      now,
    );
    expect(idenfy).toBeInstanceOf(IdenfyProvider);
    expect(idenfy?.name).toBe("idenfy");
    expect(createVerificationProvider(loadConfig({ IDENFY_API_KEY: "k" }), now)).toBeNull();
    expect(createVerificationProvider(loadConfig({}), now)).toBeNull();
  });

  it("IDENFY_DEV_APPROVE_SECONDS defaults to 10 and must be 1 to 86400 seconds", () => {
    expect(loadConfig({}).IDENFY_DEV_APPROVE_SECONDS).toBe(10);
    expect(loadConfig({ IDENFY_DEV_APPROVE_SECONDS: "3" }).IDENFY_DEV_APPROVE_SECONDS).toBe(3);
    for (const bad of ["0", "86401", "1.5", "soon"]) {
      const err = thrown(() => loadConfig({ IDENFY_DEV_APPROVE_SECONDS: bad }));
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).lines).toHaveLength(1);
      expect((err as ConfigError).lines[0]).toMatch(/^IDENFY_DEV_APPROVE_SECONDS: /);
    }
  });
});
