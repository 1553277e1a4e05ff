import { describe, expect, it } from "vitest";
import { authHeader } from "./support/auth.js";
import { type TestGateway, waitFor } from "./support/gateway.js";
import { mitraToken, seedMitra } from "./support/mitras.js";
import { ADMIN_ENV, operatorToken } from "./support/people.js";
import { QUIET_SWEEPS, startOwnValkey, stopOwnValkey, useGateways } from "./support/setup.js";
import { WsClient, wsUrl } from "./support/ws-client.js";

// Two processes of one deployment: heartbeats are guarded by each one's in-memory deactivated set.
const ctx = useGateways({ count: 2, ownValkey: true, env: { ...QUIET_SWEEPS, ...ADMIN_ENV } });
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;
const heartbeats = (i: number) => gw(i).gateway.services.avail.heartbeats;
const keys = () => gw(0).gateway.services.keys;

let admin: string | undefined;
async function setActive(on: TestGateway, mitraId: string, isActive: boolean): Promise<void> {
  admin ??= await operatorToken(on);
  const res = await fetch(`${on.internalUrl}/internal/mitras/${mitraId}`, {
    method: "PATCH",
    headers: { ...authHeader(admin), "content-type": "application/json" },
    body: JSON.stringify({ isActive }),
  });
  expect(res.status).toBe(200);
}

describe("heartbeats guarded from memory", () => {
  it("a mitra deactivated through one process has its heartbeat refused on another at once, and its socket there closed", async () => {
    const mitra = await seedMitra(gw(0).pool);
    const sock = await WsClient.connect(wsUrl(gw(1).publicUrl, "/ws"), {
      token: await mitraToken(gw(0), mitra),
    });
    await sock.next("hello");
    expect((await sock.request({ type: "heartbeat" })).type).toBe("ack");

    await setActive(gw(0), mitra, false);
    // Right after the answer, on the other process: refused, never acked.
    await expect(heartbeats(1).recordHeartbeat(mitra)).rejects.toMatchObject({ code: "ACCOUNT_INACTIVE" });
    sock.send({ type: "heartbeat", id: "after" });
    const { code } = await sock.closed;
    expect(code).toBe(4003);
    expect(sock.frames.some((f) => f.type === "ack" && f.id === "after")).toBe(false);
  });

  it("a reactivated mitra's heartbeats are accepted again on every process", async () => {
    const mitra = await seedMitra(gw(0).pool);
    await setActive(gw(0), mitra, false);
    await expect(heartbeats(1).recordHeartbeat(mitra)).rejects.toMatchObject({ code: "ACCOUNT_INACTIVE" });
    await setActive(gw(1), mitra, true);
    await heartbeats(0).recordHeartbeat(mitra);
    await heartbeats(1).recordHeartbeat(mitra);
  });

  it("a heartbeat answered from memory reaches Valkey within the write-behind window", async () => {
    const mitra = await seedMitra(gw(0).pool);
    const t0 = Date.now();
    await heartbeats(1).recordHeartbeat(mitra);
    await waitFor(async () => (await gw(0).valkey?.get(keys().mitraHeartbeat(mitra))) != null, 1000);
    const hb = (await gw(0).valkey?.get(keys().mitraHeartbeat(mitra))) as string;
    expect(Date.parse(hb)).toBeGreaterThanOrEqual(t0);
  });

  it("Valkey's guard keeps the last word: a deactivation the process never heard of is not written, and refused from then on", async () => {
    const mitra = await seedMitra(gw(0).pool);
    // The in-memory guard answers only while fresh (a Valkey health flap under load re-seeds it).
    await waitFor(() => gw(1).gateway.services.avail.deactivated.fresh, 5000);
    // Deactivated behind the gateways' backs: no event, so the in-memory sets do not know.
    await gw(0).pool.query("UPDATE mitras SET is_active = false WHERE id = $1", [mitra]);
    await gw(0).valkey?.sadd(keys().mitrasDeactivated, mitra);
    // Written in the same call as two active mitras around it: only the deactivated one is refused.
    const [before, after] = [await seedMitra(gw(0).pool), await seedMitra(gw(0).pool)];
    await heartbeats(1).recordHeartbeat(before);
    await heartbeats(1).recordHeartbeat(mitra);
    await heartbeats(1).recordHeartbeat(after);
    await heartbeats(1).flushBehind();
    expect(await gw(0).valkey?.get(keys().mitraHeartbeat(mitra))).toBeNull();
    for (const active of [before, after])
      expect(await gw(0).valkey?.get(keys().mitraHeartbeat(active))).not.toBeNull();
    await expect(heartbeats(1).recordHeartbeat(mitra)).rejects.toMatchObject({ code: "ACCOUNT_INACTIVE" });
    await expect(heartbeats(1).recordHeartbeat(after)).resolves.toBeUndefined();
  });

  it("after Valkey comes back empty, a deactivated mitra's heartbeat is still refused", async () => {
    const mitra = await seedMitra(gw(0).pool);
    await setActive(gw(0), mitra, false);
    await stopOwnValkey(ctx);
    await startOwnValkey(ctx);
    // Whether or not the reseed has rebuilt mitras:deactivated yet.
    for (const i of [0, 1])
      await expect(heartbeats(i).recordHeartbeat(mitra)).rejects.toMatchObject({ code: "ACCOUNT_INACTIVE" });
    await waitFor(() => gw(1).gateway.services.avail.deactivated.fresh, 5000);
    await expect(heartbeats(1).recordHeartbeat(mitra)).rejects.toMatchObject({ code: "ACCOUNT_INACTIVE" });
  });
});
