import type { Logger } from "../log.js";
import type { Services } from "../services.js";
import type { SocketHub, Ws } from "./socket-hub.js";

/** Mitras whose open offers are read in one statement when Valkey comes back. */
const RESEND_CHUNK = 500;
/** After Valkey is back, once more this much later: other processes' subscribers rejoin their channels late. */
const RESEND_AGAIN_MS = 2000;

/**
 * Sends pairing frames again that may have been lost in flight (docs/sessions.md,
 * "Offers sent again"). Offers and matches are committed in Postgres first and
 * then sent fire-and-forget; when the fan-out's Valkey or the recipient's
 * process dies at that moment, nothing else would tell the mitra before the
 * offer lapses (30 s), or the customer before it rechecks. So:
 * - a mitra's socket, once activated, gets its open offers (a mitra that
 *   reconnected to another process too); a customer's gets `pairing.matched`
 *   while its match waits for payment;
 * - when Valkey (or this process's subscriber) is back after being down, each
 *   process sends its own connected mitras their open offers, locally: the
 *   fan-out reached only local sockets meanwhile.
 * The frames are the same as the first send (same requestId and expiresAt):
 * the SDK keeps one offer per requestId.
 */
export class PairingRedelivery {
  private readonly offs: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly s: Services,
    private readonly hub: SocketHub,
    private readonly log: Logger,
  ) {}

  start(): void {
    const resend = () => this.resendSoon();
    this.s.valkeyHealth?.on("up", resend);
    this.offs.push(() => this.s.valkeyHealth?.off("up", resend));
    this.offs.push(this.s.pubsub.onReconnected(resend));
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Right after hello. */
  async greet(ws: Ws): Promise<void> {
    const { userType, userId } = ws.getUserData();
    try {
      if (userType === "mitra")
        for (const { frame } of await this.s.pairing.openOffers([userId]))
          this.hub.send(ws, "pairing.offer", JSON.stringify(frame));
      if (userType === "customer") {
        const frame = await this.s.pairing.pendingMatch(userId);
        if (frame) this.hub.send(ws, "pairing.matched", JSON.stringify(frame));
      }
    } catch (err) {
      // Postgres down: the offer's next batch (or the SDK's own recheck) still moves the request on.
      this.log.warn({ err: (err as Error).message }, "could not send open pairing frames to a new socket");
    }
  }

  private resendSoon(): void {
    void this.resendAll();
    const t = setTimeout(() => {
      this.timers.delete(t);
      void this.resendAll();
    }, RESEND_AGAIN_MS);
    t.unref();
    this.timers.add(t);
  }

  private async resendAll(): Promise<void> {
    const mitras = this.hub.usersOf("mitra");
    let sent = 0;
    try {
      for (let i = 0; i < mitras.length; i += RESEND_CHUNK) {
        const offers = await this.s.pairing.openOffers(mitras.slice(i, i + RESEND_CHUNK));
        for (const { mitraId, frame } of offers) this.hub.sendToUser("mitra", mitraId, JSON.stringify(frame));
        sent += offers.length;
      }
      if (sent > 0) this.log.info({ offers: sent }, "open pairing offers sent again after Valkey came back");
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not send open pairing offers again");
    }
  }
}
