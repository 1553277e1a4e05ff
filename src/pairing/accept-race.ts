import type { Logger } from "../log.js";
import type { Metrics } from "../metrics.js";
import type { ValkeyClient } from "../valkey/client.js";
import type { Keys } from "../valkey/keys.js";
import { defineScript, runScript } from "../valkey/lua-loader.js";

const CLAIM = "claimPairingAccept";
const RELEASE = "compareAndDelete";
/** How long a win is held in Valkey: long enough for its Postgres confirmation, short if its process dies. */
const CLAIM_MS = 10_000;

/**
 * The fast half of "first accept wins": one Lua call per accept decides,
 * so of 50 simultaneous accepts 49 are turned away without a Postgres
 * statement. Postgres's conditional write confirms the winner; with Valkey
 * down or failing, that write alone decides (still exactly once).
 */
export class AcceptRace {
  constructor(
    private readonly valkey: ValkeyClient | null,
    private readonly keys: Keys,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {
    if (valkey) {
      defineScript(valkey, CLAIM, new URL("./lua/claim-accept-1.lua", import.meta.url));
      defineScript(valkey, RELEASE, new URL("../valkey/lua/compare-and-delete-1.lua", import.meta.url));
    }
  }

  /** false when another mitra already holds the win. */
  async claim(requestId: string, mitraId: string): Promise<boolean> {
    if (!this.valkey) return true;
    try {
      return (
        (await runScript(this.valkey, CLAIM, [this.keys.pairingWinner(requestId)], [mitraId, CLAIM_MS])) === 1
      );
    } catch (err) {
      this.metrics.valkeyFallbacks.inc({ operation: "pairing_claim" });
      this.log.warn({ err: (err as Error).message }, "accept race in Valkey failed; Postgres decides");
      return true;
    }
  }

  /** Gives a claim back (the accept failed after winning it, e.g. AT_CAPACITY): the request goes on. */
  async release(requestId: string, mitraId: string): Promise<void> {
    if (!this.valkey) return;
    await runScript(this.valkey, RELEASE, [this.keys.pairingWinner(requestId)], [mitraId]).catch(() => {});
  }
}
