import { randomBytes } from "node:crypto";
import type { ValkeyClient } from "./client.js";
import { defineScript, runScript } from "./lua-loader.js";

const RELEASE = "compareAndDelete";

/**
 * A short Valkey lock around a critical section (a provider call): `SET NX EX`,
 * released only by its owner (compare-and-delete in Lua), so a holder whose
 * lock lapsed can never release the next holder's. It throws when Valkey
 * fails: callers decide what "no lock" means (never "go ahead anyway").
 */
export class OwnedLocks {
  constructor(private readonly valkey: ValkeyClient) {
    defineScript(valkey, RELEASE, new URL("./lua/compare-and-delete-1.lua", import.meta.url));
  }

  /** The owner token when acquired, null when someone else holds it. */
  async acquire(key: string, ttlSeconds: number): Promise<string | null> {
    const token = randomBytes(16).toString("hex");
    return (await this.valkey.set(key, token, "EX", ttlSeconds, "NX")) === "OK" ? token : null;
  }

  async release(key: string, token: string): Promise<void> {
    await runScript(this.valkey, RELEASE, [key], [token]);
  }
}
