import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { sleep } from "../support/sdk.js";
import { ownerPort, startPrivateCluster, type TestCluster } from "../support/valkey-cluster.js";
import { Deployment } from "./support/deployment.js";
import { allowLoadSignIns, runScenario } from "./support/scenario.js";

// A private cluster (scripts/valkey-cluster.sh on free ports): the test kills one of its primaries.
let db: TestDatabase;
let cluster: TestCluster;
let deployment: Deployment;
beforeAll(async () => {
  db = await createTestDatabase();
  await allowLoadSignIns(db.url);
  cluster = await startPrivateCluster();
  deployment = await Deployment.start({
    count: 3,
    databaseUrl: db.url,
    valkey: { clusterNodes: cluster.nodes },
  });
});
afterAll(async () => {
  await deployment?.close();
  await cluster?.stop();
  await db?.drop();
});

describe("fault 2: kill -9 of the Valkey Cluster primary that holds the availability slot", () => {
  it("its replica takes over and the gateways carry on; nothing acknowledged is lost", async () => {
    let victim = 0;
    await runScenario({
      name: "2. kill -9 cluster primary",
      deployment,
      databaseUrl: db.url,
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
