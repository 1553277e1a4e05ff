import { describe, it } from "vitest";
import { sleep } from "../support/sdk.js";
import { OwnValkey } from "../support/valkey.js";
import { useDeployment } from "./support/deployment.js";
import { runScenario } from "./support/scenario.js";

// A redis-server of the test's own (never 6379): the test kills it.
let valkey: OwnValkey;
const ctx = useDeployment(async () => {
  valkey = await OwnValkey.start();
  return { target: { url: valkey.url }, stop: () => valkey.stop() };
});

describe("fault 1: kill -9 of Valkey, back empty after 3 s", () => {
  it("the gateways fall back to Postgres, reseed the empty Valkey, and nothing acknowledged is lost", async () => {
    let reseedMs: number | null = null;
    let back = 0;
    await runScenario({
      name: "1. kill -9 Valkey, back empty",
      deployment: ctx.deployment,
      databaseUrl: ctx.db.url,
      recoveredMeans: "the mirror reseeded (online and deactivated sets as in Postgres)",
      fault: async ({ probes }) => {
        await valkey.crash();
        await sleep(1000);
        probes.fire();
        await sleep(2000);
        await valkey.startAgain();
        back = Date.now();
        return back;
      },
      recovered: async ({ valkey: v, deployment: d, load, probes }) => {
        const [online, deactivated] = await Promise.all([
          v.scard(d.keys.mitrasOnline),
          probes.deactivated ? v.sismember(d.keys.mitrasDeactivated, probes.deactivated.id) : 1,
        ]);
        const done = online === load.activeMitras().length && deactivated === 1;
        if (done && reseedMs === null) reseedMs = Date.now() - back;
        return done;
      },
      note: () => `mirror complete ${reseedMs} ms after Valkey came back`,
    });
  });
});
