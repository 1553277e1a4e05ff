/** Offers remembered; far more than a mitra holds at once (one batch per request, a few requests). */
const REMEMBERED = 256;

/**
 * The gateway sends an open offer again when it may have been lost (each
 * socket activation, Valkey back after an outage), the same frame with the
 * same requestId: the app hears of each offer once — unless its accept was
 * told PAIRING_TAKEN while the request was still open (the winner's claim
 * given back), when the gateway offers it again and the app must hear it.
 */
export class SeenOffers {
  private readonly ids = new Set<string>();

  /** True the first time a requestId is seen. */
  first(requestId: string): boolean {
    if (this.ids.has(requestId)) return false;
    this.ids.add(requestId);
    // A Set iterates in insertion order: the oldest goes first.
    if (this.ids.size > REMEMBERED) {
      const oldest = this.ids.values().next().value;
      if (oldest !== undefined) this.ids.delete(oldest);
    }
    return true;
  }

  /** The offer is to be heard again if it comes again (its accept was told PAIRING_TAKEN). */
  forget(requestId: string): void {
    this.ids.delete(requestId);
  }
}
