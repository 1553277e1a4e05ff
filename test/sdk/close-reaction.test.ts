import { describe, expect, it } from "vitest";
import { Backoff, type ClosedConnection, reactionTo } from "../../packages/client/src/node.js";

const closed = (c: Partial<ClosedConnection>): ClosedConnection => ({
  code: 1006,
  revoked: false,
  saidHello: true,
  upgradeStatus: undefined,
  failuresBefore: 0,
  ...c,
});

describe("what the socket does when a connection closes", () => {
  it("follows the contract's close codes", () => {
    expect(reactionTo(closed({ code: 4003 }))).toEqual({ kind: "stop", reason: "REVOKED" });
    expect(reactionTo(closed({ code: 1006, revoked: true }))).toEqual({ kind: "stop", reason: "REVOKED" });
    expect(reactionTo(closed({ code: 4001 }))).toEqual({ kind: "retry", first: "refresh", now: true });
    for (const code of [4008, 4009, 1001, 1006, 1009, 1011])
      expect(reactionTo(closed({ code }))).toEqual({ kind: "retry", first: null, now: false });
  });

  it("asks about the token after a refused upgrade: at once on 401, after two blind failures otherwise", () => {
    const refused = { saidHello: false };
    expect(reactionTo(closed({ ...refused, upgradeStatus: 401 }))).toMatchObject({ first: "check" });
    expect(reactionTo(closed({ ...refused, upgradeStatus: 403 }))).toEqual({
      kind: "stop",
      reason: "FORBIDDEN",
    });
    expect(reactionTo(closed({ ...refused, upgradeStatus: 503 }))).toMatchObject({ first: null });
    expect(reactionTo(closed({ ...refused, failuresBefore: 0 }))).toMatchObject({ first: null });
    expect(reactionTo(closed({ ...refused, failuresBefore: 1 }))).toMatchObject({ first: "check" });
  });

  it("backs off exponentially with full jitter under a ceiling", () => {
    const top = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0.999_999);
    expect(Array.from({ length: 6 }, () => top.next())).toEqual([99, 199, 399, 799, 999, 999]);
    const bottom = new Backoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    expect(Array.from({ length: 3 }, () => bottom.next())).toEqual([0, 0, 0]);
    top.reset();
    expect(top.next()).toBe(99);
  });
});
