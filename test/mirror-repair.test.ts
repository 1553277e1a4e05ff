import { describe, expect, it } from "vitest";
import type { SweepOutcome } from "../src/sweeps/auto-offline.js";
import { MirrorRepair } from "../src/sweeps/mirror-repair.js";
import { waitFor } from "./support/gateway.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A reseed that answers from a script of outcomes (a throw for "x", the scheduler's "aborted" for "u") and counts its runs. */
function scripted(outcomes: (SweepOutcome["outcome"] | "x" | "u")[]) {
  const runs: number[] = [];
  const reseed = async (): Promise<SweepOutcome | undefined> => {
    runs.push(Date.now());
    await sleep(5);
    const o = outcomes.shift() ?? "done";
    if (o === "x") throw new Error("valkey still failing over");
    if (o === "u") return undefined;
    return o === "done" ? { outcome: "done", changed: 1 } : { outcome: o };
  };
  return { runs, reseed };
}

describe("mirror repair (the reseed after a failed mirror write or a failover)", () => {
  it("gathers a burst of requests into one reseed, run after the settle delay", async () => {
    const s = scripted(["done"]);
    const repair = new MirrorRepair(s.reseed, () => true, 30);
    const asked = Date.now();
    for (let i = 0; i < 50; i++) repair.request();
    await waitFor(() => s.runs.length >= 1, 5000, 5);
    await sleep(100);
    expect(s.runs).toHaveLength(1);
    expect((s.runs[0] as number) - asked).toBeGreaterThanOrEqual(25);
    repair.stop();
  });

  it("runs again until one run completes, when the reseed fails or is aborted while Valkey still fails over", async () => {
    const s = scripted(["x", "u", "x", "done"]);
    const repair = new MirrorRepair(s.reseed, () => true, 10);
    repair.request();
    await waitFor(() => s.runs.length >= 4, 5000, 5);
    await sleep(100);
    expect(s.runs).toHaveLength(4);
    repair.stop();
  });

  it("a request arriving while a run is under way gets one more run after it (that run may have read Postgres before the damage)", async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let runs = 0;
    const repair = new MirrorRepair(
      async () => {
        runs++;
        if (runs === 1) await held;
        return { outcome: "done", changed: 1 };
      },
      () => true,
      10,
    );
    repair.request();
    await waitFor(() => runs === 1, 5000, 5); // the first run is under way, held
    repair.request();
    repair.request();
    release();
    await waitFor(() => runs >= 2, 5000, 5);
    await sleep(100);
    expect(runs).toBe(2);
    repair.stop();
  });

  it("takes another process's run (its lock held: skipped) as the repair: after a failover every process asks", async () => {
    const s = scripted(["skipped"]);
    const repair = new MirrorRepair(s.reseed, () => true, 10);
    repair.request();
    await waitFor(() => s.runs.length >= 1, 5000, 5);
    await sleep(100);
    expect(s.runs).toHaveLength(1);
    repair.stop();
  });

  it("waits while Valkey is known down, then runs once it is usable", async () => {
    const s = scripted(["done"]);
    let up = false;
    const repair = new MirrorRepair(s.reseed, () => up, 10);
    repair.request();
    await sleep(80);
    expect(s.runs).toHaveLength(0);
    up = true;
    await waitFor(() => s.runs.length >= 1, 5000, 5);
    await sleep(100);
    expect(s.runs).toHaveLength(1);
    repair.stop();
  });

  it("does nothing after stop", async () => {
    const s = scripted(["x", "x", "x"]);
    const repair = new MirrorRepair(s.reseed, () => true, 10);
    repair.request();
    await sleep(15);
    repair.stop();
    const n = s.runs.length;
    await sleep(100);
    repair.request();
    await sleep(50);
    expect(s.runs.length).toBe(n);
  });
});
