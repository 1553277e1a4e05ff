import { z } from "zod";

export const PUSH_PLATFORMS = ["android", "ios"] as const;

/**
 * FCM registration tokens are about 150–200 characters of printable ASCII. The
 * bound leaves ten times that, and stays under Postgres's b-tree entry limit
 * (about 2.7 kB) on the token's unique index: a longer token would fail the
 * insert (a 500) instead of the schema (a 400).
 */
export const PUSH_TOKEN_MAX = 2048;

/** `POST /api/{client,mitra}/devices` (contract §11). */
export const deviceBodySchema = z.object({
  platform: z.enum(PUSH_PLATFORMS),
  token: z
    .string()
    .min(1)
    .max(PUSH_TOKEN_MAX)
    .regex(/^[\x21-\x7e]+$/, "must be printable ASCII without spaces"),
});
