import { describe, expect, it } from "vitest";
import { waitFor } from "../support/gateway.js";
import { useDeployment } from "./support/deployment.js";
import { runScenario } from "./support/scenario.js";

const ctx = useDeployment();

describe("fault 5: SIGTERM to one of three gateways mid-load", () => {
  it("its sockets are closed with 1001, reconnect to the others and catch up; nothing acknowledged is lost", async () => {
    let exit: { code: number | null; ms: number } | undefined;
    await runScenario({
      name: "5. SIGTERM 1 of 3 gateways",
      deployment: ctx.deployment,
      databaseUrl: ctx.db.url,
      recoveredMeans: "measured from the signal; the process exited 0",
      fault: async ({ deployment: d, probes }) => {
        const victim = d.gateways[1];
        if (!victim) throw new Error("no gateway");
        expect(d.balancer.openTo(victim.publicUrl)).toBeGreaterThan(0);
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
