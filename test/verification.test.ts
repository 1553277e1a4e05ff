import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { FakeIdenfy } from "./support/fake-idenfy.js";
import type { TestGateway } from "./support/gateway.js";
import { json } from "./support/http.js";
import { mitraToken, seedMitra } from "./support/mitras.js";
import { ADMIN_ENV, call, operatorToken } from "./support/people.js";
import { QUIET_SWEEPS, startOwnValkey, stopOwnValkey, useGateways } from "./support/setup.js";
import { WsClient, wsUrl } from "./support/ws-client.js";

const WEBHOOK_SECRET = "webhook-secret-for-tests-0123456789";
const fake = new FakeIdenfy();
/** Real time, shifted by tests that need a poll to fall due (30 s apart). */
const clock = { shiftMs: 0, now: (): Date => new Date(Date.now() + clock.shiftMs) };
const env: Record<string, string> = {
  ...QUIET_SWEEPS,
  ...ADMIN_ENV,
  VERIFICATION_REQUIRED: "true",
  IDENFY_API_KEY: fake.apiKey,
  IDENFY_API_SECRET: fake.apiSecret,
  IDENFY_WEBHOOK_SECRET: WEBHOOK_SECRET,
};
// The fake must listen before the gateways read their configuration.
beforeAll(async () => {
  await fake.start();
  env.IDENFY_API_URL = fake.url;
});
const ctx = useGateways({ count: 2, ownValkey: true, env, now: clock.now });
afterAll(() => fake.stop());
const gw = (i = 0): TestGateway => ctx.gateways[i] as TestGateway;

beforeEach(() => {
  fake.reset();
  clock.shiftMs = 0;
});

async function newMitra(): Promise<{ id: string; token: string }> {
  const id = await seedMitra(gw().pool);
  return { id, token: await mitraToken(gw(), id) };
}
const verificationUrl = (i = 0) => `${gw(i).publicUrl}/api/mitra/verification`;
const start = (token: string, i = 0, headers: Record<string, string> = {}) =>
  fetch(verificationUrl(i), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: "{}",
  }).then(async (r) => ({ status: r.status, body: await json(r) }));
const read = (token: string, i = 0) => call(verificationUrl(i), { token });
const postWebhook = (w: { body: string; headers: Record<string, string> }, i = 0) =>
  fetch(`${gw(i).publicUrl}/webhooks/idenfy`, { method: "POST", headers: w.headers, body: w.body });
const rowOf = async (verificationId: string) =>
  (
    await gw().pool.query<{
      scan_ref: string;
      status: string;
      recreate_count: number;
      auth_token: string | null;
    }>("SELECT scan_ref, status, recreate_count, auth_token FROM verifications WHERE id = $1", [
      verificationId,
    ])
  ).rows[0];

describe("starting and reading a verification", () => {
  it("returns the in-progress verification instead of minting again, also under an Idempotency-Key", async () => {
    const m = await newMitra();
    const first = await start(m.token);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: "in_progress", authToken: expect.any(String), reason: null });
    expect(first.body.redirectUrl).toEqual(expect.any(String));
    const again = await start(m.token, 1);
    expect(again.body.verificationId).toBe(first.body.verificationId);
    expect(again.body.authToken).toBe(first.body.authToken);
    const keyed = await start(m.token, 0, { "idempotency-key": "v-1" });
    expect(keyed.body.verificationId).toBe(first.body.verificationId);
    expect(fake.tokenCalls).toBe(1);
    expect((await read(m.token, 1)).body).toMatchObject({
      status: "in_progress",
      authToken: first.body.authToken,
    });
  });

  it("a status read before any start is 404; a customer's token is 403; a body with fields is 400", async () => {
    const m = await newMitra();
    expect((await read(m.token)).status).toBe(404);
    const customer = await call(`${gw().publicUrl}/api/shared/auth/anonymous`, { body: {} });
    expect((await read(customer.body.accessToken)).status).toBe(403);
    const r = await call(verificationUrl(), { token: m.token, body: { clientId: "x" } });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe("VALIDATION_FAILED");
  });
});

describe("re-minting an expired provider session", () => {
  it("re-mints on the next read when the expiry came from a stored webhook", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    expect((await postWebhook(fake.webhook(WEBHOOK_SECRET, scanRef, "EXPIRED"))).status).toBe(200);
    expect((await rowOf(v.verificationId))?.status).toBe("expired");
    const r = await read(m.token, 1);
    expect(r.body).toMatchObject({ verificationId: v.verificationId, status: "in_progress" });
    expect(r.body.authToken).not.toBe(v.authToken);
    const row = await rowOf(v.verificationId);
    expect(row).toMatchObject({ status: "in_progress", recreate_count: 1 });
    expect(row?.scan_ref).not.toBe(scanRef);
    expect(fake.tokenCalls).toBe(2);
  });

  it("re-mints on the read whose provider poll finds the session expired", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    fake.setStatus(scanRef, "EXPIRED");
    expect((await read(m.token)).body.authToken).toBe(v.authToken); // polled recently: no provider call
    expect(fake.statusCalls).toBe(0);
    clock.shiftMs = 31_000;
    const r = await read(m.token);
    expect(fake.statusCalls).toBe(1);
    expect(r.body.status).toBe("in_progress");
    expect(r.body.authToken).not.toBe(v.authToken);
  });

  it("five concurrent readers on two processes mint exactly one new session; the others get pending without a token", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    await postWebhook(fake.webhook(WEBHOOK_SECRET, scanRef, "EXPIRED"));
    fake.latencyMs = 400; // the lock holder's provider call is slow: every reader arrives meanwhile
    const answers = await Promise.all([0, 1, 0, 1, 0].map((i) => read(m.token, i)));
    const minted = answers.filter((a) => a.body.status === "in_progress");
    const pending = answers.filter((a) => a.body.status === "pending");
    expect(minted).toHaveLength(1);
    expect(pending).toHaveLength(4);
    for (const p of pending) expect(p.body).toMatchObject({ authToken: null, redirectUrl: null });
    expect(fake.tokenCalls).toBe(2);
    expect(answers.some((a) => a.body.status === "expired")).toBe(false);
    fake.latencyMs = 0;
    expect((await read(m.token, 1)).body.authToken).toBe(
      (minted[0] as { body: { authToken: string } }).body.authToken,
    );
  });

  it("after 10 re-mints it stays expired with RECREATE_CAP_REACHED and the provider is not asked again", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    await gw().pool.query("UPDATE verifications SET recreate_count = 10, status = 'expired' WHERE id = $1", [
      v.verificationId,
    ]);
    const r = await read(m.token);
    expect(r.body).toMatchObject({ status: "expired", reason: "RECREATE_CAP_REACHED", authToken: null });
    clock.shiftMs = 120_000;
    await read(m.token, 1);
    expect(fake.tokenCalls).toBe(1);
    expect(fake.statusCalls).toBe(0);
  });

  it("a provider failure during a re-mint leaves the state unchanged, answers 502 and releases the lock", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    await postWebhook(fake.webhook(WEBHOOK_SECRET, scanRef, "EXPIRED"));
    fake.failNext(1, 500);
    const failed = await read(m.token);
    expect(failed.status).toBe(502);
    expect(failed.body.error.code).toBe("VERIFICATION_PROVIDER_ERROR");
    expect(await rowOf(v.verificationId)).toMatchObject({
      scan_ref: scanRef,
      status: "expired",
      recreate_count: 0,
    });
    const lock = gw().gateway.services.keys.verificationRecreateLock(v.verificationId);
    expect(await gw().valkey?.exists(lock)).toBe(0);
    expect((await read(m.token)).body.status).toBe("in_progress");
  });

  it("when a peer replaced the session first, the reader answers the peer's stored state, never its own token", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    await postWebhook(fake.webhook(WEBHOOK_SECRET, scanRef, "EXPIRED"));
    fake.latencyMs = 300;
    const lock = gw().gateway.services.keys.verificationRecreateLock(v.verificationId);
    const slow = read(m.token, 0);
    // The first holder's lock "lapses" while its provider call is under way: a second reader mints too.
    await new Promise((r) => setTimeout(r, 100));
    await gw().valkey?.del(lock);
    const fast = read(m.token, 1);
    const [a, b] = await Promise.all([slow, fast]);
    const stored = await rowOf(v.verificationId);
    expect(fake.tokenCalls).toBe(3);
    expect(stored?.recreate_count).toBe(1);
    expect(a.body.authToken).toBe(stored?.auth_token);
    expect(b.body.authToken).toBe(stored?.auth_token);
  });

  it("while Valkey is down a read answers from Postgres and never mints without the lock", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    await stopOwnValkey(ctx);
    try {
      expect((await read(m.token)).body).toMatchObject({ status: "in_progress", authToken: v.authToken });
      await postWebhook(fake.webhook(WEBHOOK_SECRET, scanRef, "EXPIRED"));
      expect((await read(m.token, 1)).body).toMatchObject({ status: "pending", authToken: null });
      expect(fake.tokenCalls).toBe(1);
    } finally {
      await startOwnValkey(ctx);
    }
    expect((await read(m.token)).body.status).toBe("in_progress");
    expect(fake.tokenCalls).toBe(2);
  }, 20_000);
});

describe("webhooks", () => {
  it("approval sets verified_at; later webhooks and polls leave a terminal state alone; a replay changes nothing", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    const approved = fake.webhook(WEBHOOK_SECRET, scanRef, "APPROVED");
    expect((await postWebhook(approved)).status).toBe(200);
    expect((await read(m.token)).body).toMatchObject({ status: "approved", authToken: null });
    const { rows } = await gw().pool.query("SELECT verified_at FROM mitras WHERE id = $1", [m.id]);
    expect(rows[0].verified_at).not.toBeNull();
    expect((await postWebhook(approved, 1)).status).toBe(200);
    expect((await postWebhook(fake.webhook(WEBHOOK_SECRET, scanRef, "DENIED"))).status).toBe(200);
    fake.setStatus(scanRef, "DENIED");
    clock.shiftMs = 60_000;
    expect((await read(m.token)).body.status).toBe("approved");
    expect((await rowOf(v.verificationId))?.status).toBe("approved");
  });

  it("refuses a bad or missing signature (401), an unknown scanRef (404), an over-long body (413), garbage (400)", async () => {
    const m = await newMitra();
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    const good = fake.webhook(WEBHOOK_SECRET, scanRef, "APPROVED");
    const bad = { body: good.body, headers: { ...good.headers, "Idenfy-Signature": "0".repeat(64) } };
    const missing = { body: good.body, headers: { "content-type": "application/json" } };
    const wrongKey = fake.webhook("another-secret", scanRef, "APPROVED");
    for (const w of [bad, missing, wrongKey]) {
      const r = await postWebhook(w);
      expect(r.status).toBe(401);
      expect((await json(r)).error.code).toBe("INVALID_SIGNATURE");
    }
    expect((await rowOf(v.verificationId))?.status).toBe("in_progress");
    expect((await postWebhook(fake.webhook(WEBHOOK_SECRET, "no-such-scan-ref", "APPROVED"))).status).toBe(
      404,
    );
    const huge = JSON.stringify({ scanRef, padding: "x".repeat(70_000) });
    const hugeRes = await postWebhook({ body: huge, headers: { "Idenfy-Signature": "0".repeat(64) } });
    expect(hugeRes.status).toBe(413);
    const { signIdenfyWebhook } = await import("./support/fake-idenfy.js");
    for (const raw of ["not json", "[]", '{"scanRef":5}']) {
      const r = await postWebhook({
        body: raw,
        headers: { "Idenfy-Signature": signIdenfyWebhook(raw, WEBHOOK_SECRET) },
      });
      expect(r.status).toBe(400);
    }
  });
});

describe("the gate", () => {
  it("an unverified mitra cannot go online over HTTP or the socket; approval lets it at once on the other process", async () => {
    const m = await newMitra();
    const online = await call(`${gw(0).publicUrl}/api/mitra/status/online`, { token: m.token, body: {} });
    expect(online.status).toBe(403);
    expect(online.body.error.code).toBe("VERIFICATION_REQUIRED");
    const ws = await WsClient.connect(wsUrl(gw(1).publicUrl, "/ws"), { token: m.token });
    await ws.next("hello");
    expect(await ws.request({ type: "status.set", online: true })).toMatchObject({
      code: "VERIFICATION_REQUIRED",
    });
    const { body: v } = await start(m.token);
    const scanRef = (await rowOf(v.verificationId))?.scan_ref as string;
    await postWebhook(fake.webhook(WEBHOOK_SECRET, scanRef, "APPROVED"), 0);
    expect((await ws.request({ type: "status.set", online: true })).type).toBe("ack");
    await ws.close();
  });
});

describe("operators", () => {
  it("list verifications with a status filter and cursor paging; a mitra token is refused", async () => {
    for (let i = 0; i < 3; i++) await start((await newMitra()).token);
    const admin = await operatorToken(gw());
    const url = `${gw().internalUrl}/internal/verifications`;
    const page1 = await call(`${url}?status=in_progress&limit=2`, { token: admin });
    expect(page1.status).toBe(200);
    expect(page1.body.items).toHaveLength(2);
    expect(page1.body.items[0]).toMatchObject({ status: "in_progress", mitraId: expect.any(String) });
    expect(page1.body.items[0].authToken).toBeUndefined();
    const page2 = await call(`${url}?status=in_progress&limit=2&cursor=${page1.body.nextCursor}`, {
      token: admin,
    });
    const ids = new Set([...page1.body.items, ...page2.body.items].map((x: { id: string }) => x.id));
    expect(ids.size).toBe(page1.body.items.length + page2.body.items.length);
    expect((await call(`${url}?status=bogus`, { token: admin })).status).toBe(400);
    expect((await call(`${url}?cursor=garbage`, { token: admin })).status).toBe(400);
    const m = await newMitra();
    expect((await call(url, { token: m.token })).status).toBe(403);
  });
});
