import { describe, expect, it } from "vitest";
import { HaloError } from "../../packages/client/src/node.js";
import { retryDelay } from "../../packages/client/src/retry.js";

describe("the SDK's wait before a retry", () => {
  it("honours the server's Retry-After, never sooner, with up to as much again of jitter so clients do not return in step", () => {
    const err = new HaloError("DEPENDENCY_UNAVAILABLE", "Postgres is unavailable", { retryAfterSeconds: 1 });
    const waits = Array.from({ length: 2000 }, (_, i) => retryDelay(err, i % 10));
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...waits)).toBeLessThan(2000);
    // Spread, not one value: the 2,000 draws fill both halves of the window.
    expect(waits.filter((w) => w < 1500).length).toBeGreaterThan(500);
    expect(waits.filter((w) => w >= 1500).length).toBeGreaterThan(500);
  });

  it("without a Retry-After, backs off with full jitter up to 5 s", () => {
    const err = new HaloError("INTERNAL", "Internal error");
    const first = Array.from({ length: 500 }, () => retryDelay(err, 0));
    const late = Array.from({ length: 500 }, () => retryDelay(err, 20));
    expect(Math.max(...first)).toBeLessThan(250);
    expect(Math.max(...late)).toBeLessThan(5000);
    expect(Math.max(...late)).toBeGreaterThan(2500);
  });
});
