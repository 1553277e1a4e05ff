import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type TestGateway, waitFor } from "./support/gateway.js";
import { type Party, socketCustomer } from "./support/pairing.js";
import { QUIET_SWEEPS, useGateways } from "./support/setup.js";

/**
 * Fan-out over the shard channels (src/ws/fanout.ts), on one Valkey and,
 * under `npm run test:cluster`, on a cluster; and what a gateway of the
 * single-channel version publishes during a rolling deploy (docs/websocket.md).
 */
const ctx = useGateways({ count: 2, env: QUIET_SWEEPS });
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;

const customerOn = async (i: number): Promise<Party> => socketCustomer(gw(i));
const seqFrames = (p: Party): number[] =>
  p.ws.frames.filter((f) => f.type === "seq").map((f) => f.n as number);

describe("fan-out over shard channels", () => {
  it("200 frames to one user, all sent at once from another process, arrive once each and in the order sent", async () => {
    const c = await customerOn(1);
    const to = { kind: "user" as const, userType: "customer" as const, userId: c.id };
    await Promise.all(
      Array.from({ length: 200 }, (_, n) => gw(0).gateway.ws.fanout.send(to, { type: "seq", n })),
    );
    await waitFor(() => seqFrames(c).length >= 200, 5000);
    expect(seqFrames(c)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    await c.ws.close();
  });

  it("a frame a gateway of the single-channel version publishes on ch:events still reaches the user's socket", async () => {
    const c = await customerOn(1);
    const frame = JSON.stringify({ type: "legacy.probe" });
    const msg = { v: 1, kind: "deliver", topic: `u:customer:${c.id}`, frame, at: Date.now() };
    await gw(0).valkey?.publish(gw(0).gateway.services.keys.channel.legacy.events, JSON.stringify(msg));
    expect((await c.ws.next("legacy.probe")).type).toBe("legacy.probe");
    await c.ws.close();
  });

  it("a revocation a gateway of the single-channel version publishes on ch:revocations is heard by every process", async () => {
    const sid = randomUUID();
    const heard = [0, 1].map(() => new Set<string>());
    for (const i of [0, 1])
      gw(i).gateway.services.revocations.on("revoked", (sids: string[]) => {
        for (const s of sids) heard[i]?.add(s);
      });
    const msg = { v: 1, kind: "sessions", sids: [sid] };
    await gw(0).valkey?.publish(gw(0).gateway.services.keys.channel.legacy.revocations, JSON.stringify(msg));
    await waitFor(() => heard.every((h) => h.has(sid)), 3000);
  });
});
