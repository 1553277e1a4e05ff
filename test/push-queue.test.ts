import { describe, expect, it } from "vitest";
import { createMetrics } from "../src/metrics.js";
import { payloadOf } from "../src/push/push-dispatcher.js";
import type { PushMessage, PushProvider, PushResult } from "../src/push/push-provider.js";
import { PushQueue, type PushQueueOptions } from "../src/push/push-queue.js";
import { silentLog, waitFor } from "./support/gateway.js";

/** A provider that answers from a script, then "sent"; `stall` holds every answer until released. */
class ScriptedProvider implements PushProvider {
  readonly name = "scripted";
  readonly attempts: { msg: PushMessage; at: number }[] = [];
  private held: (() => void)[] = [];
  stalled = false;

  constructor(private readonly script: PushResult[] = []) {}

  async send(msg: PushMessage): Promise<PushResult> {
    this.attempts.push({ msg, at: Date.now() });
    if (this.stalled) await new Promise<void>((r) => this.held.push(r));
    return this.script.shift() ?? { kind: "sent" };
  }

  release(): void {
    this.stalled = false;
    for (const r of this.held.splice(0)) r();
  }
}

function queueWith(provider: PushProvider, opts: PushQueueOptions = {}) {
  const metrics = createMetrics();
  const deleted: string[] = [];
  const queue = new PushQueue(
    provider,
    { deleteToken: async (t) => void deleted.push(t) },
    {
      sent: metrics.pushSent,
      failed: metrics.pushFailed,
      retried: metrics.pushRetried,
      dropped: metrics.pushDropped,
    },
    silentLog,
    { backoffBaseMs: 20, rememberLast: true, ...opts },
  );
  const count = async (name: string): Promise<number> =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values.reduce((s, v) => s + v.value, 0) ?? 0;
  return { queue, deleted, count };
}

const msg = (token: string): PushMessage => ({ platform: "android", token, data: { type: "pairing.offer" } });

describe("push send queue", () => {
  it("a push answered 503 twice, then accepted, is delivered once after two retries", async () => {
    const provider = new ScriptedProvider([
      { kind: "retry", reason: "503" },
      { kind: "retry", reason: "503" },
    ]);
    const { queue, count } = queueWith(provider);
    queue.enqueue("u1", msg("tok-1"));
    await waitFor(async () => (await count("halo_push_sent_total")) === 1, 2000);
    expect(provider.attempts).toHaveLength(3);
    expect(await count("halo_push_retried_total")).toBe(2);
    expect(queue.lastPushTo("u1")?.token).toBe("tok-1");
  });

  it("gives a push up after three tries", async () => {
    const retry: PushResult = { kind: "retry", reason: "503" };
    const provider = new ScriptedProvider([retry, retry, retry, retry]);
    const { queue, count } = queueWith(provider);
    queue.enqueue("u1", msg("tok-1"));
    await waitFor(async () => (await count("halo_push_failed_total")) === 1, 2000);
    expect(provider.attempts).toHaveLength(3);
    expect(await count("halo_push_sent_total")).toBe(0);
    expect(queue.lastPushTo("u1")).toBeUndefined();
  });

  it("waits at least the provider's Retry-After before trying again", async () => {
    const provider = new ScriptedProvider([{ kind: "retry", afterMs: 300, reason: "429" }]);
    const { queue, count } = queueWith(provider);
    queue.enqueue("u1", msg("tok-1"));
    await waitFor(async () => (await count("halo_push_sent_total")) === 1, 2000);
    const [first, second] = provider.attempts;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(295);
  });

  it("deletes a token the provider reports unregistered, without retrying", async () => {
    const provider = new ScriptedProvider([{ kind: "unregistered" }]);
    const { queue, deleted, count } = queueWith(provider);
    queue.enqueue("u1", msg("gone"));
    await waitFor(() => deleted.length === 1, 2000);
    expect(deleted).toEqual(["gone"]);
    expect(provider.attempts).toHaveLength(1);
    expect(await count("halo_push_failed_total")).toBe(1);
  });

  it("when full, drops the oldest pushes, counts them, and sends the newest", async () => {
    const provider = new ScriptedProvider();
    provider.stalled = true;
    const { queue, count } = queueWith(provider, { capacity: 5, concurrency: 1 });
    for (let i = 0; i < 10; i++) queue.enqueue(`u${i}`, msg(`tok-${i}`));
    // One in flight (stalled), five waiting, four dropped: tok-1 … tok-4.
    expect(queue.size).toBe(5);
    expect(await count("halo_push_dropped_total")).toBe(4);
    provider.release();
    await waitFor(async () => (await count("halo_push_sent_total")) === 6, 2000);
    expect(provider.attempts.map((a) => a.msg.token)).toEqual([
      "tok-0",
      "tok-5",
      "tok-6",
      "tok-7",
      "tok-8",
      "tok-9",
    ]);
  });

  it("a provider that never answers frees its slot after the attempt timeout", async () => {
    const provider = new ScriptedProvider();
    provider.stalled = true;
    const { queue, count } = queueWith(provider, { concurrency: 1, attemptTimeoutMs: 50, maxTries: 1 });
    queue.enqueue("u1", msg("a"));
    queue.enqueue("u2", msg("b"));
    await waitFor(async () => (await count("halo_push_failed_total")) === 2, 2000);
    expect(provider.attempts.map((a) => a.msg.token)).toEqual(["a", "b"]);
  });
});

describe("push payload", () => {
  const message = { id: "m1", sessionId: "s1", text: "hello there", senderId: "x", senderType: "customer" };

  it("an offer carries its request id and expiry, nothing about the customer", () => {
    const frame = {
      type: "pairing.offer",
      requestId: "r1",
      customer: { displayName: "Ani" },
      expiresAt: "2026-01-01T00:00:00.000Z",
    };
    expect(payloadOf(frame, true)).toEqual({
      type: "pairing.offer",
      requestId: "r1",
      expiresAt: "2026-01-01T00:00:00.000Z",
    });
  });

  it("a chat message carries its text only with the preview on", () => {
    const frame = { type: "chat.message", message };
    expect(payloadOf(frame, false)).toEqual({ type: "chat.message", sessionId: "s1", messageId: "m1" });
    expect(payloadOf(frame, true)).toEqual({
      type: "chat.message",
      sessionId: "s1",
      messageId: "m1",
      text: "hello there",
    });
  });

  it("session and match updates carry ids only", () => {
    expect(payloadOf({ type: "session.updated", session: { id: "s1", status: "active" } }, true)).toEqual({
      type: "session.updated",
      sessionId: "s1",
    });
    expect(
      payloadOf({ type: "pairing.matched", requestId: "r1", sessionId: "s1", mitra: { id: "x" } }, true),
    ).toEqual({ type: "pairing.matched", requestId: "r1", sessionId: "s1" });
  });

  it("a frame missing its ids is not pushed", () => {
    expect(payloadOf({ type: "chat.message", message: { text: "x" } }, true)).toBeUndefined();
    expect(payloadOf({ type: "pairing.taken", requestId: "r1" }, true)).toBeUndefined();
  });
});
