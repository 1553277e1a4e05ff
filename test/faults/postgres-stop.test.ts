import { afterAll, beforeAll, describe, it } from "vitest";
import { TEST_VALKEY_URL } from "../support/env.js";
import { OwnPostgres } from "../support/own-postgres.js";
import { sleep } from "../support/sdk.js";
import { allowLoadSignIns, Deployment } from "./support/deployment.js";
import { runScenario } from "./support/scenario.js";

// A Postgres of the test's own: the shared one on 5432 is never stopped.
let postgres: OwnPostgres;
let deployment: Deployment;
beforeAll(async () => {
  postgres = await OwnPostgres.start();
  deployment = await Deployment.start({
    count: 3,
    databaseUrl: postgres.url(),
    valkey: { url: TEST_VALKEY_URL },
  });
  // The gateways migrated it; the tunable is read through a short cache, so set it before any sign-in.
  await allowLoadSignIns(postgres.url());
  await sleep(2500);
});
afterAll(async () => {
  await deployment?.close();
  await postgres?.destroy();
});

describe("fault 3: Postgres stopped (crashed) for 10 s mid-load", () => {
  it("heartbeats go on through Valkey, writes fail cleanly, and within 5 s of its return everything works; nothing acknowledged is lost", async () => {
    await runScenario({
      name: "3. Postgres down 10 s",
      deployment,
      databaseUrl: postgres.url(),
      recoveredMeans: "measured from Postgres answering again",
      fault: async ({ probes }) => {
        await postgres.crash();
        await sleep(2000);
        probes.fire();
        await sleep(8000);
        await postgres.startAgain();
        return Date.now();
      },
    });
  });
});
