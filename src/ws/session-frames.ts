import type { Services } from "../services.js";
import type { AckBody } from "./frame-handlers.js";
import type { ClientFrame } from "./frame-schemas.js";
import type { SocketData } from "./socket-data.js";

/** session.end and chat.send (customer or mitra): the same use cases as HTTP. */
export async function handleSessionFrame(
  s: Services,
  d: SocketData,
  type: "session.end" | "chat.send",
  frame: unknown,
): Promise<AckBody> {
  if (type === "session.end") {
    const { sessionId } = frame as ClientFrame<"session.end">;
    return { session: await s.sessions.end(d, sessionId) };
  }
  const { sessionId, clientMsgId, text } = frame as ClientFrame<"chat.send">;
  return s.chat.send(d, { sessionId, clientMsgId, text });
}
