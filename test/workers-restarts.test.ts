import { describe, expect, it } from "vitest";
import { restartPolicy } from "../src/supervisor-restarts.js";

describe("restarting dead workers", () => {
  it("waits longer after each quick death and gives up on the fifth within a minute", () => {
    const policy = restartPolicy();
    const t = 1_000_000;
    const decisions = [0, 1, 2, 3, 4].map((i) => policy.onExit(t + i * 1000, 500));
    expect(decisions.map((d) => d.delayMs)).toEqual([250, 500, 1000, 2000, 4000]);
    expect(decisions.map((d) => d.giveUp)).toEqual([false, false, false, false, true]);
  });

  it("forgets deaths older than a minute, and restarts at once a worker that ran for a minute", () => {
    const policy = restartPolicy();
    for (let i = 0; i < 4; i++) policy.onExit(i * 1000, 500);
    const later = policy.onExit(120_000, 90_000);
    expect(later).toEqual({ giveUp: false, delayMs: 0, recentExits: 1 });
  });
});
