import { AppError } from "../errors.js";
import type { Services } from "../services.js";
import type { AckBody } from "./frame-handlers.js";
import type { SocketData } from "./socket-data.js";

/** session.end and chat.send (customer or mitra): the same use cases as HTTP. */
export async function handleSessionFrame(
  _s: Services,
  _d: SocketData,
  _type: "session.end" | "chat.send",
  _frame: unknown,
): Promise<AckBody> {
  throw new AppError("UNKNOWN_TYPE", 400, "Sessions are being built");
}
