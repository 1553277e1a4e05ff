import { z } from "zod";

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
} as const;

export type ClientFrameType = keyof typeof clientFrames;
export type ClientFrame<T extends ClientFrameType> = z.infer<(typeof clientFrames)[T]>;

/** Which user types may send each frame; any other gets FORBIDDEN. */
export const frameSenders: Record<ClientFrameType, readonly string[]> = {
  heartbeat: ["mitra"],
  "status.set": ["mitra"],
  "auth.refresh": ["customer", "mitra", "cc"],
};
