import { z } from "zod";
import { availabilitySchema, dashboardCountsSchema } from "./availability-schemas.js";
import { ackFrameSchema } from "./client-frames.js";
import { isoTimeSchema, USER_TYPES, userTypeSchema, uuidSchema } from "./common.js";
import { errorFrameSchema } from "./errors.js";
import { messageSchema, PAIRING_FAIL_REASONS, sessionSchema } from "./session-schemas.js";

const frame = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), ...shape });

/** Server → client frames (contract §4, §5). */
export const serverFrames = {
  hello: frame("hello", {
    userId: uuidSchema,
    userType: userTypeSchema,
    authSessionId: uuidSchema,
    heartbeatIntervalSeconds: z.number().int().min(0).describe("HEARTBEAT_STALE_SECONDS / 3"),
    accessExpiresAt: isoTimeSchema,
  }),
  ack: ackFrameSchema,
  error: errorFrameSchema,
  availability: frame("availability", availabilitySchema.shape),
  "dashboard.counts": frame("dashboard.counts", dashboardCountsSchema.shape),
  "pairing.offer": frame("pairing.offer", {
    requestId: uuidSchema,
    customer: z.object({ displayName: z.string().nullable() }),
    expiresAt: isoTimeSchema,
  }),
  "pairing.taken": frame("pairing.taken", { requestId: uuidSchema }),
  "pairing.matched": frame("pairing.matched", {
    requestId: uuidSchema,
    sessionId: uuidSchema,
    mitra: z.object({ id: uuidSchema, displayName: z.string().nullable() }),
  }),
  "pairing.failed": frame("pairing.failed", { requestId: uuidSchema, reason: z.enum(PAIRING_FAIL_REASONS) }),
  "session.updated": frame("session.updated", { session: sessionSchema }),
  "chat.message": frame("chat.message", { message: messageSchema }),
  revoked: frame("revoked", {}),
  "token.expired": frame("token.expired", {}),
} as const;

export type ServerFrameType = keyof typeof serverFrames;
export const SERVER_FRAME_TYPES = Object.keys(serverFrames) as ServerFrameType[];

/** Who receives each server frame. */
export const serverFrameRecipients: Record<ServerFrameType, readonly (typeof USER_TYPES)[number][]> = {
  hello: USER_TYPES,
  ack: USER_TYPES,
  error: USER_TYPES,
  availability: ["customer"],
  "dashboard.counts": ["cc"],
  "pairing.offer": ["mitra"],
  "pairing.taken": ["mitra"],
  "pairing.matched": ["customer", "mitra"],
  "pairing.failed": ["customer"],
  "session.updated": ["customer", "mitra"],
  "chat.message": ["customer", "mitra"],
  revoked: USER_TYPES,
  "token.expired": USER_TYPES,
};

/** WebSocket close codes the gateway uses (contract §4, §8). */
export const CLOSE_CODES = {
  goingAway: 1001,
  tooBig: 1009,
  tokenExpired: 4001,
  revoked: 4003,
  rateLimited: 4008,
  slowReader: 4009,
} as const;

/** The two WebSocket endpoints and who may open each (contract §4). */
export const WS_ENDPOINTS = {
  "/ws": { listener: "public", users: ["customer", "mitra"] },
  "/internal/ws": { listener: "internal", users: ["cc"] },
} as const;
