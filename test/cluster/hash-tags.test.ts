import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { EVENT_SHARD_TAGS } from "../../src/valkey/keys.js";
import { OwnedLocks } from "../../src/valkey/owned-lock.js";
import { type TestGateway, waitFor } from "../support/gateway.js";
import { everyoneOffline, onlineMitra, type Party, socketCustomer } from "../support/pairing.js";
import { infoSum, ownerPort, someCluster, useClusterGateways } from "../support/valkey-cluster.js";

/**
 * On a Valkey Cluster every multi-key command and Lua script must keep its
 * keys in one slot (else CROSSSLOT), and ioredis refuses a pipeline whose
 * keys sit on several nodes. Callers fall back to Postgres quietly when
 * Valkey refuses, so the proof is twofold: the gateways count no fallback,
 * and the primaries count no CROSSSLOT error, after every script and
 * multi-key path has run.
 */
const ctx = useClusterGateways(2, someCluster);
const gw = (i: number): TestGateway => ctx.gateways[i] as TestGateway;
const parties = ctx.parties;

async function fallbacks(g: TestGateway): Promise<number> {
  const text = await (await fetch(`${g.internalUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((l) => l.startsWith("halo_valkey_fallbacks_total"))
    .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
}

const crossSlotErrors = async (): Promise<number> =>
  infoSum(await ctx.cluster.primaryPorts(), "errorstats", /^errorstat_CROSSSLOT:count=(\d+)/);

describe("hash tags on a Valkey Cluster", () => {
  it("every Lua script and multi-key command runs on the cluster without CROSSSLOT or a Postgres fallback", async () => {
    expect(gw(0).gateway.services.keys.mitrasOnline).toContain("{avail}");
    const crossBefore = await crossSlotErrors();
    await everyoneOffline(gw(0)); // reseed: scratch sets, MSET, RENAME

    // apply-status-n, sync-available-n (go online); heartbeat-guard-set-n (heartbeat).
    const mitras = [await onlineMitra(gw(0)), await onlineMitra(gw(1))];
    parties.push(...mitras);
    for (const m of mitras) expect((await m.ws.request({ type: "heartbeat" })).type).toBe("ack");

    // pick-batch-3 and claim-accept-1, with the customer and the mitras on different processes.
    const customer = await socketCustomer(gw(0));
    parties.push(customer);
    const ack = await customer.ws.request({ type: "pairing.request" });
    expect(ack.type).toBe("ack");
    await waitFor(() => mitras.some((m) => m.ws.frames.some((f) => f.type === "pairing.offer")), 5000);
    const offered = mitras.find((m) => m.ws.frames.some((f) => f.type === "pairing.offer")) as Party;
    const accepted = await offered.ws.request({ type: "pairing.accept", requestId: ack.requestId });
    expect(accepted.type).toBe("ack");
    expect((await customer.ws.next("pairing.matched", 5000)).sessionId).toBe(accepted.sessionId);

    // Push reachability: the customer's socket on gateway 0, seen from gateway 1 (HGETALL of its hash,
    // the lease script); its first-socket write (HSET, PEXPIRE) ran when the socket opened.
    expect(await gw(1).gateway.services.push.reachability.isReachable("customer", customer.id)).toBe(true);

    // The sweeps: SSCAN + MGET slices (auto-offline, heartbeat mirror), remove-stale-online-n,
    // set-heartbeat-if-newer-n, and the reseed again.
    for (const sweep of ["auto_offline", "heartbeat_mirror", "reseed"]) {
      const outcome = await gw(1).gateway.services.scheduler.runNow(sweep);
      expect(outcome, sweep).not.toMatchObject({ status: "failed" });
    }

    // The beacon's snapshot and its lock; the availability read (SDIFF + pipelined MGETs).
    expect((await fetch(`${gw(0).publicUrl}/api/client/availability`)).status).toBe(200);

    // Revocation checks of one tick for sessions in many slots (one pipeline per node).
    const unknown = Array.from({ length: 40 }, () => randomUUID());
    await Promise.all(unknown.map((sid) => gw(0).gateway.services.revocations.isRevoked(sid)));

    // Revocations in many slots: marked in Valkey, heard by the other process over its shard channel.
    const revoked = Array.from({ length: 12 }, () => randomUUID());
    const heard = new Set<string>();
    gw(1).gateway.services.revocations.on("revoked", (sids: string[]) => {
      for (const sid of sids) heard.add(sid);
    });
    await gw(0).gateway.services.revocations.announce(revoked);
    for (const sid of revoked)
      expect(await gw(0).valkey?.exists(gw(0).gateway.services.keys.revokedSession(sid))).toBe(1);
    await waitFor(() => revoked.every((sid) => heard.has(sid)), 3000);

    // compare-and-delete-1 behind the verification lock.
    const locks = new OwnedLocks(gw(0).valkey as NonNullable<TestGateway["valkey"]>);
    const key = gw(0).gateway.services.keys.verificationCreateLock(randomUUID());
    const token = await locks.acquire(key, 10);
    expect(token).not.toBeNull();
    await locks.release(key, token as string);
    expect(await gw(0).valkey?.exists(key)).toBe(0);

    expect(await fallbacks(gw(0))).toBe(0);
    expect(await fallbacks(gw(1))).toBe(0);
    expect(await crossSlotErrors()).toBe(crossBefore);
  });

  it("the event shard channels land on every primary, tag i in the i-th sixteenth of the slots", async () => {
    const ports = await ctx.cluster.primaryPorts();
    const owners = new Set<number>();
    const v = gw(0).valkey as NonNullable<TestGateway["valkey"]>;
    for (const [i, channel] of gw(0).gateway.services.keys.channel.events.entries()) {
      expect(channel).toContain(`{${EVENT_SHARD_TAGS[i]}}`);
      const slot = Number(await v.call("CLUSTER", "KEYSLOT", channel));
      expect(Math.floor(slot / 1024)).toBe(i);
      owners.add(await ownerPort(v, channel));
    }
    expect(owners.size).toBe(ports.length);
  });
});
