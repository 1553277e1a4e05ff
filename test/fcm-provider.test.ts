import { generateKeyPairSync } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FcmProvider, retryAfterMs } from "../src/push/fcm-provider.js";
import type { PushMessage } from "../src/push/push-provider.js";
import { FakeFcm } from "./support/fake-fcm.js";
import { TestClock } from "./support/gateway.js";

const fake = new FakeFcm("halo-push-test");
let accountFile = "";
let clock: TestClock;

const offer: PushMessage = {
  platform: "android",
  token: "device-token-1",
  data: {
    type: "pairing.offer",
    requestId: "0b7c1a52-5d2e-4c1e-9f4a-1f2d3c4b5a69",
    expiresAt: "2030-01-02T03:04:35.000Z",
  },
};

async function provider(opts: { timeoutMs?: number; tokenUrl?: string } = {}): Promise<FcmProvider> {
  return FcmProvider.fromFile({
    projectId: fake.projectId,
    serviceAccountFile: accountFile,
    apiUrl: fake.url,
    now: clock.now,
    ...opts,
  });
}

beforeAll(async () => {
  await fake.start();
  accountFile = await fake.writeServiceAccountFile();
});
afterAll(() => fake.stop());
beforeEach(() => {
  fake.reset();
  clock = new TestClock();
});

describe("FCM provider against a fake FCM", () => {
  it("sends a data-only message woken in the background on Android and iOS", async () => {
    const fcm = await provider();
    expect(await fcm.send(offer)).toEqual({ kind: "sent" });
    expect(await fcm.send({ ...offer, platform: "ios", token: "device-token-2" })).toEqual({ kind: "sent" });

    expect(fake.messages.map((m) => m.projectId)).toEqual([fake.projectId, fake.projectId]);
    expect(fake.messages[0]?.message).toEqual({
      token: "device-token-1",
      data: offer.data,
      android: { priority: "high" },
      apns: {
        headers: { "apns-priority": "10", "apns-push-type": "background" },
        payload: { aps: { "content-available": 1 } },
      },
    });
    // Data-only: nothing the OS would show by itself.
    expect(fake.messages[0]?.message).not.toHaveProperty("notification");
    expect(fake.messagesTo("device-token-2")).toHaveLength(1);
  });

  it("takes the token endpoint from the service account's token_uri unless FCM_TOKEN_URL overrides it", async () => {
    await (await provider()).send(offer);
    expect(fake.tokenRequests).toBe(1);

    const elsewhere = await provider({ tokenUrl: `${fake.url}/nowhere` });
    // The fake has no /nowhere: its 404 shows the override was used.
    expect(await elsewhere.send(offer)).toMatchObject({
      kind: "failed",
      reason: expect.stringContaining("404"),
    });
  });

  it("fetches the access token once and reuses it across sends, also when many start together", async () => {
    const fcm = await provider();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => fcm.send({ ...offer, token: `t${i}` })),
    );
    expect(results.every((r) => r.kind === "sent")).toBe(true);
    await fcm.send(offer);
    expect(fake.tokenRequests).toBe(1);
    expect(fake.messages).toHaveLength(21);
  });

  it("fetches a new access token when the cached one is about to expire", async () => {
    fake.tokenLifetimeSeconds = 3600;
    const fcm = await provider();
    await fcm.send(offer);
    clock.advance(3500_000);
    await fcm.send(offer);
    expect(fake.tokenRequests).toBe(1);
    // Within the last minute of its hour the token is replaced before it can die in flight.
    clock.advance(50_000);
    await fcm.send(offer);
    expect(fake.tokenRequests).toBe(2);
  });

  it("refreshes a short-lived token at half its life", async () => {
    fake.tokenLifetimeSeconds = 10;
    const fcm = await provider();
    await fcm.send(offer);
    clock.advance(4_000);
    await fcm.send(offer);
    expect(fake.tokenRequests).toBe(1);
    clock.advance(2_000);
    await fcm.send(offer);
    expect(fake.tokenRequests).toBe(2);
  });

  it("fetches a fresh token once and sends again when FCM answers 401", async () => {
    const fcm = await provider();
    await fcm.send(offer);
    fake.revokeAccessTokens();
    expect(await fcm.send(offer)).toEqual({ kind: "sent" });
    expect(fake.tokenRequests).toBe(2);
    expect(fake.messages).toHaveLength(2);
  });

  it("fails rather than loops when FCM refuses even a fresh token", async () => {
    const fcm = await provider();
    fake.failNext(2, { kind: "unauthenticated" });
    expect(await fcm.send(offer)).toMatchObject({ kind: "failed" });
    expect(fake.tokenRequests).toBe(2);
    expect(fake.messages).toHaveLength(0);
  });

  it("reports a token FCM no longer knows (404 UNREGISTERED) as unregistered", async () => {
    fake.failNext(1, { kind: "unregistered" });
    expect(await (await provider()).send(offer)).toEqual({ kind: "unregistered" });
  });

  it("reports a malformed token (400 INVALID_ARGUMENT on message.token) as unregistered", async () => {
    fake.failNext(1, { kind: "invalid-token" });
    expect(await (await provider()).send(offer)).toEqual({ kind: "unregistered" });
    // The fake's own check of an empty token answers the same way.
    expect(await (await provider()).send({ ...offer, token: "" })).toEqual({ kind: "unregistered" });
  });

  it("fails a 400 on the message itself, keeping the token", async () => {
    fake.failNext(1, { kind: "bad-request" });
    expect(await (await provider()).send(offer)).toMatchObject({
      kind: "failed",
      reason: expect.stringContaining("400 INVALID_ARGUMENT"),
    });
  });

  it("asks for a retry after the Retry-After seconds of a 429", async () => {
    fake.failNext(1, { kind: "quota", retryAfter: "2" });
    expect(await (await provider()).send(offer)).toMatchObject({ kind: "retry", afterMs: 2000 });
  });

  it("asks for a retry after a 503, with the Retry-After date when given", async () => {
    const fcm = await provider();
    fake.failNext(1, { kind: "unavailable" });
    const plain = await fcm.send(offer);
    expect(plain).toMatchObject({ kind: "retry", reason: expect.stringContaining("503") });
    expect(plain).not.toHaveProperty("afterMs");

    fake.failNext(1, {
      kind: "unavailable",
      retryAfter: new Date(clock.now().getTime() + 30_000).toUTCString(),
    });
    const dated = await fcm.send(offer);
    expect(dated.kind).toBe("retry");
    // An HTTP date has whole seconds: between 29 and 30 s from now.
    expect(dated.kind === "retry" && dated.afterMs).toBeGreaterThan(28_999);
    expect(dated.kind === "retry" && dated.afterMs).toBeLessThanOrEqual(30_000);

    expect(await fcm.send(offer)).toEqual({ kind: "sent" });
  });

  it("asks for a retry when FCM does not answer within the timeout", async () => {
    const fcm = await provider({ timeoutMs: 300 });
    await fcm.send(offer); // the token first, so the stall below holds the send
    fake.stall();
    expect(await fcm.send(offer)).toMatchObject({
      kind: "retry",
      reason: expect.stringContaining("timeout"),
    });
    expect(fake.heldCount).toBe(1);
    fake.release();
  });

  it("waits out a slow FCM that answers within the timeout", async () => {
    const fcm = await provider({ timeoutMs: 2_000 });
    fake.latencyMs = 150;
    expect(await fcm.send(offer)).toEqual({ kind: "sent" });
  });

  it("fails when the token endpoint does not trust the key that signed the assertion", async () => {
    const account = JSON.parse(await readFile(accountFile, "utf8")) as Record<string, unknown>;
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forged = join(accountFile, "..", "forged.json");
    await writeFile(
      forged,
      JSON.stringify({ ...account, private_key: privateKey.export({ type: "pkcs8", format: "pem" }) }),
    );
    const fcm = await FcmProvider.fromFile({
      projectId: fake.projectId,
      serviceAccountFile: forged,
      apiUrl: fake.url,
    });
    expect(await fcm.send(offer)).toMatchObject({
      kind: "failed",
      reason: expect.stringContaining("invalid_grant"),
    });
    expect(fake.lastRefusal).toMatch(/signature/);
    expect(fake.sendRequests).toBe(0);
  });

  it("asks for a retry when FCM is unreachable", async () => {
    const gone = new FakeFcm();
    await gone.start();
    const file = await gone.writeServiceAccountFile();
    const fcm = await FcmProvider.fromFile({
      projectId: "p",
      serviceAccountFile: file,
      apiUrl: gone.url,
      now: clock.now,
    });
    await gone.stop();
    expect(await fcm.send(offer)).toMatchObject({
      kind: "retry",
      reason: expect.stringContaining("unreachable"),
    });
  });

  it("retries a token endpoint 5xx but fails a refused grant", async () => {
    const fcm = await provider();
    fake.failTokens(1, 503);
    expect(await fcm.send(offer)).toMatchObject({ kind: "retry", reason: expect.stringContaining("503") });
    fake.failTokens(1, 400);
    expect(await fcm.send(offer)).toMatchObject({
      kind: "failed",
      reason: expect.stringContaining("invalid_grant"),
    });
    expect(await fcm.send(offer)).toEqual({ kind: "sent" });
  });

  it("refuses to start on a service account file without a private key, naming the field but not quoting it", async () => {
    const dir = join(accountFile, "..");
    const bad = join(dir, "no-key.json");
    await writeFile(bad, JSON.stringify({ client_email: "x@y", private_key_id: "k" }));
    await expect(
      FcmProvider.fromFile({ projectId: "p", serviceAccountFile: bad, apiUrl: fake.url }),
    ).rejects.toThrow(/private_key/);
  });
});

describe("Retry-After", () => {
  const now = new Date("2030-01-02T03:04:05.000Z");
  it("reads seconds and HTTP dates, and ignores what it cannot read", () => {
    expect(retryAfterMs("2", now)).toBe(2000);
    expect(retryAfterMs(" 0 ", now)).toBe(0);
    expect(retryAfterMs("Wed, 02 Jan 2030 03:04:15 GMT", now)).toBe(10_000);
    expect(retryAfterMs("Wed, 02 Jan 2030 03:00:00 GMT", now)).toBe(0);
    expect(retryAfterMs("soon", now)).toBeUndefined();
    expect(retryAfterMs("-5", now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });
});
