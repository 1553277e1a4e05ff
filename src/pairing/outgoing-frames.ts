import type { OutFrame } from "../events/notifier.js";

/** `pairing.offer`, the same whether sent first or again (contract §5). */
export const offerFrameOf = (requestId: string, customerName: string | null, expiresAt: Date): OutFrame => ({
  type: "pairing.offer",
  requestId,
  customer: { displayName: customerName },
  expiresAt: expiresAt.toISOString(),
});

/** `pairing.matched`, to the customer and the winner, or again to the customer. */
export const matchedFrameOf = (
  requestId: string,
  sessionId: string,
  mitraId: string,
  mitraName: string | null,
): OutFrame => ({
  type: "pairing.matched",
  requestId,
  sessionId,
  mitra: { id: mitraId, displayName: mitraName },
});
