import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { TEST_VALKEY_URL } from "../support/env.js";
import { waitFor } from "../support/gateway.js";
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

describe("fault 5: SIGTERM to one of three gateways mid-load", () => {
  it("its sockets are closed with 1001, reconnect to the others and catch up; nothing acknowledged is lost", async () => {
    let exit: { code: number | null; ms: number } | undefined;
    await runScenario({
      name: "5. SIGTERM 1 of 3 gateways",
      deployment,
      databaseUrl: db.url,
      recoveredMeans: "the stopped process exited 0",
      fault: async ({ deployment: d, probes }) => {
        const victim = d.gateways[0];
        if (!victim) throw new Error("no gateway");
        const onIt = d.balancer.openTo(victim.publicUrl);
        expect(onIt).toBeGreaterThan(0);
        probes.fire();
        const signalled = Date.now();
        exit = await victim.stop("SIGTERM");
        await waitFor(() => d.balancer.openTo(victim.publicUrl) === 0, 5000);
        return signalled;
      },
      note: () => `exit ${exit?.code} after ${exit?.ms} ms`,
    });
    expect(exit?.code).toBe(0);
  });
});
