import { randomUUID } from "node:crypto";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { TEST_VALKEY_ENV } from "./support/env.js";
import { spawnGateway, TEST_JWT_SECRET, type TestGateway, waitFor } from "./support/gateway.js";
import { ADMIN_ENV, newMitraPhone, operatorToken } from "./support/people.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";

// Contract §7 and §8: a process stopped with SIGTERM leaves no idempotency claim in flight, so a
// retry on another process runs at once instead of answering REQUEST_IN_PROGRESS for the 30 s lease.
const ctx = useGateways({ env: { ...QUIET_SWEEPS, ...ADMIN_ENV } });
let admin: string;
beforeAll(async () => {
  admin = await operatorToken(ctx.gateways[0] as TestGateway);
});

const createMitra = (base: string, key: string, phone: string): Promise<Response> =>
  fetch(`${base}/internal/mitras`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${admin}`, "idempotency-key": key },
    body: JSON.stringify({ phone, displayName: "Sigterm" }),
  });

const spawnPeer = () =>
  spawnGateway({
    DATABASE_URL: ctx.db.url,
    ...TEST_VALKEY_ENV,
    VALKEY_KEY_PREFIX: (ctx.gateways[0] as TestGateway).gateway.services.config.VALKEY_KEY_PREFIX,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ...QUIET_SWEEPS,
  });

async function inFlightClaims(): Promise<number> {
  const { rows } = await (ctx.gateways[0] as TestGateway).pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM idempotency_keys WHERE state = 'in_flight'",
  );
  return rows[0]?.n ?? -1;
}

describe("idempotency claims at a graceful stop", () => {
  it("a claim whose work outlives the drain is released at SIGTERM, so a retry elsewhere runs at once", async () => {
    const peer = await spawnPeer();
    const other = ctx.gateways[0] as TestGateway;
    // Hold the mitras table so the peer's create blocks inside its use case, past every drain deadline.
    const blocker = new pg.Client({ connectionString: ctx.db.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE mitras IN SHARE MODE");
      const key = randomUUID();
      const phone = newMitraPhone();
      const first = createMitra(peer.internalUrl, key, phone).catch(() => null);
      await waitFor(async () => (await inFlightClaims()) === 1, 5000);
      const { code } = await peer.stop("SIGTERM");
      expect(code).toBe(0);
      expect(await first).toBeNull(); // its connection closed: the client cannot know, and retries
      await blocker.query("ROLLBACK");
      expect(await inFlightClaims()).toBe(0);
      // The retry runs at once. Postgres still ran the peer's blocked INSERT once the lock went (a
      // statement waiting on a lock does not notice its client left), so the use case's own rule
      // answers: the crash case of docs/idempotency.md, not REQUEST_IN_PROGRESS for 30 s.
      const retry = await createMitra(other.internalUrl, key, phone);
      const answer =
        retry.status === 201
          ? "created"
          : ((await retry.json()) as { error?: { code?: string } }).error?.code;
      expect(["created", "PHONE_TAKEN"]).toContain(answer);
    } finally {
      await blocker.end();
    }
  });

  it("requests arriving around the signal leave no claim in flight, and each retry answers at once", async () => {
    const peer = await spawnPeer();
    const other = ctx.gateways[0] as TestGateway;
    const sent: { key: string; phone: string }[] = [];
    let firing = true;
    const fire = async (): Promise<void> => {
      while (firing) {
        const one = { key: randomUUID(), phone: newMitraPhone() };
        sent.push(one);
        await createMitra(peer.internalUrl, one.key, one.phone).catch(() => null);
      }
    };
    const loops = Array.from({ length: 12 }, fire);
    await waitFor(() => sent.length >= 40, 10_000, 5);
    const { code } = await peer.stop("SIGTERM");
    firing = false;
    await Promise.all(loops);
    expect(code).toBe(0);
    expect(await inFlightClaims()).toBe(0);
    for (const one of sent) {
      const retry = await createMitra(other.internalUrl, one.key, one.phone);
      expect(retry.status).toBe(201);
    }
  });

  it("a claim of a process killed with SIGKILL is taken over at once, not after its 30 s lease", async () => {
    const peer = await spawnPeer();
    const other = ctx.gateways[0] as TestGateway;
    const blocker = new pg.Client({ connectionString: ctx.db.url });
    await blocker.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("LOCK TABLE mitras IN SHARE MODE");
      const key = randomUUID();
      const phone = newMitraPhone();
      void createMitra(peer.internalUrl, key, phone).catch(() => null);
      await waitFor(async () => (await inFlightClaims()) === 1, 5000);
      // Its process lives: the claim holds.
      const meanwhile = await createMitra(other.internalUrl, key, phone);
      expect(meanwhile.status).toBe(409);
      expect(((await meanwhile.json()) as { error: { code: string } }).error.code).toBe(
        "REQUEST_IN_PROGRESS",
      );
      await peer.stop("SIGKILL");
      await blocker.query("ROLLBACK");
      const started = Date.now();
      const retry = await createMitra(other.internalUrl, key, phone);
      const answer =
        retry.status === 201
          ? "created"
          : ((await retry.json()) as { error?: { code?: string } }).error?.code;
      // As at a SIGTERM, Postgres ran the dead process's blocked INSERT once the lock went.
      expect(["created", "PHONE_TAKEN"]).toContain(answer);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await blocker.end();
    }
  });
});
