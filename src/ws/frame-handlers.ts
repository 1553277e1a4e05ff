import { AppError, issuesFromZod, validationFailed } from "../errors.js";
import type { Services } from "../services.js";
import { type ClientFrameType, clientFrames, FRAME_ID_MAX, frameSenders } from "./frame-schemas.js";
import { handlePairingFrame } from "./pairing-frames.js";
import { handleSessionFrame } from "./session-frames.js";
import type { SocketData } from "./socket-data.js";

/** What a handled frame answers in its ack (fields sit at the top level of the ack). */
export type AckBody = Record<string, unknown>;

export interface FrameContext {
  data: SocketData;
  /** Re-points the socket at another auth session of the same user (auth.refresh). */
  moveSid(sid: string): void;
}

/** A parsed frame: its readable id (if any) and its type. */
export interface RawFrame {
  id: string | number | undefined;
  type: string;
  value: Record<string, unknown>;
}

/**
 * The id of a frame, when it is readable (what `frameIdSchema` accepts: a
 * string of at most 128 characters or a finite number); an error for a frame
 * without one carries no id. Checked by hand: it runs for every frame, and the
 * frame's schema still validates it in full.
 */
export function readableId(value: Record<string, unknown>): string | number | undefined {
  const id = value.id;
  if (typeof id === "string") return id.length <= FRAME_ID_MAX ? id : undefined;
  return typeof id === "number" && Number.isFinite(id) ? id : undefined;
}

/**
 * Validates and runs one client frame against the core. The same use cases
 * as the HTTP routes (one implementation, two doors): recordHeartbeat,
 * goOnline/goOffline, authenticate.
 */
export async function handleFrame(s: Services, ctx: FrameContext, frame: RawFrame): Promise<AckBody> {
  if (typeof frame.value.type !== "string") {
    throw validationFailed([{ path: "type", message: "A frame needs a string type" }]);
  }
  const type = frame.type as ClientFrameType;
  const schema = clientFrames[type];
  if (!schema || !Object.hasOwn(clientFrames, type)) {
    throw new AppError("UNKNOWN_TYPE", 400, `Unknown frame type ${JSON.stringify(frame.type).slice(0, 64)}`);
  }
  if (!frameSenders[type].includes(ctx.data.userType)) {
    throw new AppError("FORBIDDEN", 403, `A ${ctx.data.userType} cannot send ${type}`);
  }
  const d = ctx.data;
  // The frame that arrives thousands of times a second: what its schema accepts is checked by hand
  // (zod's parse was the largest cost left on the path); anything else goes through the schema.
  if (type === "heartbeat" && isPlainHeartbeat(frame.value)) {
    await s.avail.heartbeats.recordHeartbeat(d.userId);
    return {};
  }
  const parsed = schema.safeParse(frame.value);
  if (!parsed.success) throw validationFailed(issuesFromZod(parsed.error.issues));

  switch (type) {
    case "heartbeat":
      await s.avail.heartbeats.recordHeartbeat(d.userId);
      return {};
    case "status.set": {
      const online = (parsed.data as { online: boolean }).online;
      return online ? s.avail.status.goOnline(d.userId) : s.avail.status.goOffline(d.userId);
    }
    case "auth.refresh": {
      const token = (parsed.data as { accessToken: string }).accessToken;
      const p = await s.auth.authenticate(token, [d.userType]);
      if (p.userId !== d.userId) throw new AppError("FORBIDDEN", 403, "That token belongs to another user");
      d.exp = p.exp;
      ctx.moveSid(p.sid);
      return { accessExpiresAt: new Date(p.exp * 1000).toISOString() };
    }
    case "pairing.request":
    case "pairing.cancel":
    case "pairing.accept":
    case "pairing.decline":
      return handlePairingFrame(s, d, type, parsed.data);
    case "session.end":
    case "chat.send":
      return handleSessionFrame(s, d, type, parsed.data);
    default:
      throw new AppError("UNKNOWN_TYPE", 400, "Unknown frame type");
  }
}

/**
 * A plain heartbeat of a mitra that memory accepts at once: true when it was
 * accepted (the caller acks it), false for every other frame and every other
 * outcome (`handleFrame` answers those, a refusal included). The frame that
 * arrives thousands of times a second, answered without a promise: the async
 * chain per frame (handleFrame's, the use case's and the `.then`) was most of
 * what a heartbeat allocated, and GC was the largest part of the soak's
 * event-loop stalls (bench/README.md, soak, 2 December).
 */
export function heartbeatNow(s: Services, d: SocketData, frame: RawFrame): boolean {
  return (
    frame.type === "heartbeat" &&
    frameSenders.heartbeat.includes(d.userType) &&
    isPlainHeartbeat(frame.value) &&
    s.avail.heartbeats.acceptNow(d.userId) === true
  );
}

/** Exactly what the heartbeat schema accepts: `type` and an optional readable `id`, nothing else. */
function isPlainHeartbeat(value: Record<string, unknown>): boolean {
  for (const key in value) if (key !== "type" && key !== "id") return false;
  return !Object.hasOwn(value, "id") || readableId(value) !== undefined;
}
