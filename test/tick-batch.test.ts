import { describe, expect, it } from "vitest";
import { TickBatch } from "../src/tick-batch.js";

describe("TickBatch", () => {
  it("answers a tick's requests with one call; a duplicate key shares the first request's slot and value", async () => {
    const calls: [string[], string[]][] = [];
    const b = new TickBatch<string, string, string>(async (keys, values) => {
      calls.push([keys, values]);
      return values.map((v) => v.toUpperCase());
    });
    const got = await Promise.all([b.get("a", "x"), b.get("b", "y"), b.get("a", "z")]);
    expect(got).toEqual(["X", "Y", "X"]);
    expect(calls).toEqual([
      [
        ["a", "b"],
        ["x", "y"],
      ],
    ]);
  });

  it("with maxInFlight, requests made while the calls run wait and go together in the next one", async () => {
    const sizes: number[] = [];
    let running = 0;
    let most = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let started: () => void = () => {};
    const firstStarted = new Promise<void>((r) => {
      started = r;
    });
    const b = new TickBatch<number, number>(
      async (keys) => {
        sizes.push(keys.length);
        most = Math.max(most, ++running);
        started();
        await gate;
        running--;
        return keys;
      },
      { maxInFlight: 1 },
    );
    const first = b.get(0);
    await firstStarted;
    // Two more ticks' worth of requests while the only call allowed is still running.
    const later = Array.from({ length: 10 }, (_, i) => b.get(i + 1));
    await new Promise((r) => setImmediate(r));
    const last = Array.from({ length: 5 }, (_, i) => b.get(i + 100));
    await new Promise((r) => setImmediate(r));
    expect(sizes).toEqual([1]);
    release();
    expect(await Promise.all([first, ...later, ...last])).toEqual([
      0,
      ...Array.from({ length: 10 }, (_, i) => i + 1),
      ...Array.from({ length: 5 }, (_, i) => i + 100),
    ]);
    expect(sizes).toEqual([1, 15]);
    expect(most).toBe(1);
  });

  it("splits at maxBatch, and a failed call rejects only its own requests", async () => {
    const sizes: number[] = [];
    const b = new TickBatch<number, number>(
      async (keys) => {
        sizes.push(keys.length);
        if (keys.includes(0)) throw new Error("boom");
        return keys.map((k) => k * 2);
      },
      { maxBatch: 3 },
    );
    const all = Array.from({ length: 7 }, (_, i) =>
      b.get(i).then(
        (v) => v,
        (e: Error) => e.message,
      ),
    );
    expect(await Promise.all(all)).toEqual(["boom", "boom", "boom", 6, 8, 10, 12]);
    expect(sizes).toEqual([3, 3, 1]);
  });
});
