import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { TEST_VALKEY_URL } from "../support/env.js";
import { Deployment } from "./support/deployment.js";
import { allowLoadSignIns, runScenario } from "./support/scenario.js";

let db: TestDatabase;
let deployment: Deployment;
beforeAll(async () => {
  db = await createTestDatabase();
  await allowLoadSignIns(db.url);
  deployment = await Deployment.start({ count: 3, databaseUrl: db.url, valkey: { url: TEST_VALKEY_URL } });
});
afterAll(async () => {
  await deployment?.close();
  await db?.drop();
});

describe("fault 4: kill -9 of one of three gateways mid-load", () => {
  it("its sockets reconnect to the other two and catch up; nothing acknowledged is lost", async () => {
    let onKilled = 0;
    await runScenario({
      name: "4. kill -9 1 of 3 gateways",
      deployment,
      databaseUrl: db.url,
      recoveredMeans: "",
      fault: async ({ deployment: d, probes }) => {
        // Not the first process: the load signed in there, and the probes' operator calls go to a live one anyway.
        const victim = d.gateways[1];
        if (!victim) throw new Error("no gateway");
        onKilled = d.balancer.openTo(victim.publicUrl);
        expect(onKilled).toBeGreaterThan(0);
        probes.fire();
        const killed = Date.now();
        const exit = await victim.stop("SIGKILL");
        expect(exit.code).toBeNull();
        return killed;
      },
      note: () => `${onKilled} connections were on the killed process`,
    });
  });
});
