import { AppError } from "../errors.js";
import type { Services } from "../services.js";
import type { AckBody } from "./frame-handlers.js";
import type { SocketData } from "./socket-data.js";

/** pairing.request / cancel (customer), pairing.accept / decline (mitra): the same use cases as HTTP. */
export async function handlePairingFrame(
  _s: Services,
  _d: SocketData,
  _type: "pairing.request" | "pairing.cancel" | "pairing.accept" | "pairing.decline",
  _frame: unknown,
): Promise<AckBody> {
  throw new AppError("UNKNOWN_TYPE", 400, "Pairing is being built");
}
