import { idempotencyScope } from "../idempotency/idempotency.js";
import type { Services } from "../services.js";
import type { AckBody } from "./frame-handlers.js";
import type { SocketData } from "./socket-data.js";

type PairingFrameType = "pairing.request" | "pairing.cancel" | "pairing.accept" | "pairing.decline";

/** pairing.request / cancel (customer), pairing.accept / decline (mitra): the same use cases as HTTP. */
export async function handlePairingFrame(
  s: Services,
  d: SocketData,
  type: PairingFrameType,
  frame: unknown,
): Promise<AckBody> {
  const f = frame as { requestId: string; idempotencyKey?: string };
  switch (type) {
    case "pairing.request":
      // Contract §7: the same key again returns the first {requestId}, while it is in flight 409.
      return s.idempotency.run(
        { scope: idempotencyScope(d, "pairing.request"), key: f.idempotencyKey, body: {} },
        () => s.pairing.request(d.userId),
      );
    case "pairing.cancel":
      return s.pairing.cancel(d.userId, f.requestId);
    case "pairing.accept":
      return s.pairing.accept(d.userId, f.requestId);
    case "pairing.decline":
      return s.pairing.decline(d.userId, f.requestId);
  }
}
