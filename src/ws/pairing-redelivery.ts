import type { UserType } from "../auth/user-types.js";
import type { OutFrame } from "../events/notifier.js";
import type { Logger } from "../log.js";
import type { Services } from "../services.js";
import { TickBatch } from "../tick-batch.js";
import type { SocketHub, Ws } from "./socket-hub.js";

/** Users whose open frames are read in one statement when Valkey comes back. */
const RESEND_CHUNK = 500;
/** After Valkey is back, once more this much later: other processes' subscribers rejoin their channels late. */
const RESEND_AGAIN_MS = 2000;
/**
 * Sockets activated within this window are greeted from one statement: one
 * statement per socket was a third of an upgrade's CPU when many connect at
 * once (a fleet coming back after a process died; `ws-bench` connect,
 * 2 Dec: 475 → 305 µs an upgrade, bench/README.md).
 */
const GREET_WINDOW_MS = 2;

/** The sides a pairing frame goes to (operators get none). */
type PairingSide = Exclude<UserType, "cc">;

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
 *   process sends the same to its own connected mitras and customers,
 *   locally: the fan-out reached only local sockets meanwhile.
 * The frames are the same as the first send (same requestId and expiresAt):
 * the SDK keeps one offer per requestId.
 */
export class PairingRedelivery {
  private readonly offs: (() => void)[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Open frames per user, for the sockets activated in one window: one statement per user type. */
  private readonly greetings = {
    mitra: this.batchOf("mitra"),
    customer: this.batchOf("customer"),
  };

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
    if (userType !== "mitra" && userType !== "customer") return;
    try {
      for (const frame of await this.greetings[userType].get(userId))
        this.hub.send(ws, frame.type, JSON.stringify(frame));
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

  /** Every connected mitra's open offers and customer's unpaid match, to this process's sockets only. */
  private async resendAll(): Promise<void> {
    let sent = 0;
    try {
      for (const userType of ["mitra", "customer"] as const) {
        const users = this.hub.usersOf(userType);
        for (let i = 0; i < users.length; i += RESEND_CHUNK) {
          const frames = await this.framesFor(userType, users.slice(i, i + RESEND_CHUNK));
          for (const { userId, frame } of frames)
            this.hub.sendToUser(userType, userId, JSON.stringify(frame));
          sent += frames.length;
        }
      }
      if (sent > 0) this.log.info({ frames: sent }, "open pairing frames sent again after Valkey came back");
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "could not send open pairing frames again");
    }
  }

  private batchOf(userType: PairingSide): TickBatch<string, OutFrame[]> {
    return new TickBatch(
      async (ids) => {
        const byUser = new Map<string, OutFrame[]>(ids.map((id) => [id, []]));
        for (const { userId, frame } of await this.framesFor(userType, ids)) byUser.get(userId)?.push(frame);
        return ids.map((id) => byUser.get(id) ?? []);
      },
      { windowMs: GREET_WINDOW_MS, maxBatch: RESEND_CHUNK },
    );
  }

  private async framesFor(
    userType: PairingSide,
    ids: string[],
  ): Promise<{ userId: string; frame: OutFrame }[]> {
    if (userType === "mitra")
      return (await this.s.pairing.openOffers(ids)).map((o) => ({ userId: o.mitraId, frame: o.frame }));
    return (await this.s.pairing.pendingMatches(ids)).map((m) => ({ userId: m.customerId, frame: m.frame }));
  }
}
