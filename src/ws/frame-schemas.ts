import { z } from "zod";
import { idempotencyKeySchema } from "../idempotency/idempotency.js";

/** A frame's `id`: a string or number of the client's choosing, echoed back exactly. */
export const frameId = z.union([z.string().max(128), z.number().finite()]);

/** Client → server frames: fields sit flat beside `type` (contract §4). */
export const clientFrames = {
  heartbeat: z.object({ type: z.literal("heartbeat"), id: frameId.optional() }).strict(),
  "status.set": z
    .object({ type: z.literal("status.set"), id: frameId.optional(), online: z.boolean() })
    .strict(),
  "auth.refresh": z
    .object({ type: z.literal("auth.refresh"), id: frameId.optional(), accessToken: z.string().max(4096) })
    .strict(),
  "pairing.request": z
    .object({
      type: z.literal("pairing.request"),
      id: frameId.optional(),
      idempotencyKey: idempotencyKeySchema.optional(),
    })
    .strict(),
  "pairing.cancel": z
    .object({ type: z.literal("pairing.cancel"), id: frameId.optional(), requestId: z.uuid() })
    .strict(),
  "pairing.accept": z
    .object({ type: z.literal("pairing.accept"), id: frameId.optional(), requestId: z.uuid() })
    .strict(),
  "pairing.decline": z
    .object({ type: z.literal("pairing.decline"), id: frameId.optional(), requestId: z.uuid() })
    .strict(),
  "session.end": z
    .object({ type: z.literal("session.end"), id: frameId.optional(), sessionId: z.uuid() })
    .strict(),
  "chat.send": z
    .object({
      type: z.literal("chat.send"),
      id: frameId.optional(),
      sessionId: z.uuid(),
      clientMsgId: z.string().min(1).max(128),
      text: z.string().min(1).max(4000),
    })
    .strict(),
} as const;

export type ClientFrameType = keyof typeof clientFrames;
export type ClientFrame<T extends ClientFrameType> = z.infer<(typeof clientFrames)[T]>;

/** Which user types may send each frame; any other gets FORBIDDEN. */
export const frameSenders: Record<ClientFrameType, readonly string[]> = {
  heartbeat: ["mitra"],
  "status.set": ["mitra"],
  "auth.refresh": ["customer", "mitra", "cc"],
  "pairing.request": ["customer"],
  "pairing.cancel": ["customer"],
  "pairing.accept": ["mitra"],
  "pairing.decline": ["mitra"],
  "session.end": ["customer", "mitra"],
  "chat.send": ["customer", "mitra"],
};
