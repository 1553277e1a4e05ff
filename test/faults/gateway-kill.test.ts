import { describe, expect, it } from "vitest";
import { useDeployment } from "./support/deployment.js";
import { runScenario } from "./support/scenario.js";

const ctx = useDeployment();

describe("fault 4: kill -9 of one of three gateways mid-load", () => {
  it("its sockets reconnect to the other two and catch up; nothing acknowledged is lost", async () => {
    let onKilled = 0;
    await runScenario({
      name: "4. kill -9 1 of 3 gateways",
      deployment: ctx.deployment,
      databaseUrl: ctx.db.url,
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
