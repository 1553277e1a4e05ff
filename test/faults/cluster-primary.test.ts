import { describe, expect, it } from "vitest";
import { sleep } from "../support/sdk.js";
import { ownerPort, startPrivateCluster, type TestCluster } from "../support/valkey-cluster.js";
import { useDeployment } from "./support/deployment.js";
import { runScenario } from "./support/scenario.js";

// A private cluster (scripts/valkey-cluster.sh on free ports): the test kills one of its primaries.
let cluster: TestCluster;
const ctx = useDeployment(async () => {
  cluster = await startPrivateCluster();
  return { target: { clusterNodes: cluster.nodes }, stop: () => cluster.stop() };
});

describe("fault 2: kill -9 of the Valkey Cluster primary that holds the availability slot", () => {
  it("its replica takes over and the gateways carry on; nothing acknowledged is lost", async () => {
    let victim = 0;
    await runScenario({
      name: "2. kill -9 cluster primary",
      deployment: ctx.deployment,
      databaseUrl: ctx.db.url,
      recoveredMeans: "the {avail} slot served by the promoted replica",
      fault: async ({ valkey, deployment: d, probes }) => {
        // The primary of the {avail} slot: every heartbeat and the presence sets live there.
        victim = await ownerPort(valkey, d.keys.mitrasOnline);
        const killed = Date.now();
        cluster.kill(victim);
        await sleep(500);
        probes.fire();
        return killed;
      },
      recovered: async ({ valkey, deployment: d }) => {
        const owner = await ownerPort(valkey, d.keys.mitrasOnline).catch(() => victim);
        return owner !== victim && (await valkey.scard(d.keys.mitrasOnline).catch(() => -1)) >= 0;
      },
      note: () => `killed the primary on port ${victim}`,
    });
    expect(victim).toBeGreaterThan(0);
  });
});
