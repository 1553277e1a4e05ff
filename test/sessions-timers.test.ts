import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DeadlineTimers as SessionTimers } from "../src/deadline-timers.js";

const log = pino({ level: "silent" });
const DAY = 24 * 60 * 60_000;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function timers(onDue: (id: string) => Promise<Date | null>): SessionTimers {
  return new SessionTimers({ now: () => new Date(), log, onDue });
}

describe("session timers", () => {
  it("a deadline beyond setTimeout's 24.8-day limit fires once, at its time, not early", async () => {
    const fired: number[] = [];
    const t = timers(async () => {
      fired.push(Date.now());
      return null;
    });
    const at = new Date(Date.now() + 30 * DAY);
    t.schedule("s", at);
    await vi.advanceTimersByTimeAsync(2_147_483_647);
    expect(fired).toEqual([]);
    expect(t.has("s")).toBe(true);
    await vi.advanceTimersByTimeAsync(at.getTime() - Date.now());
    expect(fired).toEqual([at.getTime()]);
    expect(t.size).toBe(0);
  });

  it("moves to the next deadline the session reports (paid or extended meanwhile), and a clear stops it", async () => {
    let calls = 0;
    const t = timers(async () => {
      calls++;
      return calls === 1 ? new Date(Date.now() + 60_000) : null;
    });
    t.schedule("s", new Date(Date.now() + 1000));
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls).toBe(1);
    expect(t.has("s")).toBe(true);
    t.clear("s");
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls).toBe(1);
  });

  it("a firing that fails (Postgres down) is tried again, and a deadline left in the past never spins", async () => {
    let calls = 0;
    const t = timers(async () => {
      calls++;
      if (calls === 1) throw new Error("connection refused");
      if (calls === 2) return new Date(Date.now() - 1000);
      return null;
    });
    t.schedule("s", new Date(Date.now() + 10));
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(999);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(3);
    expect(t.size).toBe(0);
  });

  it("after stop nothing fires and nothing new is set", async () => {
    const onDue = vi.fn(async () => null);
    const t = timers(onDue);
    t.schedule("a", new Date(Date.now() + 1000));
    t.stop();
    t.schedule("b", new Date(Date.now() + 1000));
    await vi.advanceTimersByTimeAsync(5000);
    expect(onDue).not.toHaveBeenCalled();
    expect(t.size).toBe(0);
  });
});
