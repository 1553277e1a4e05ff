import { z } from "zod";

/**
 * The wire vocabulary every other protocol file builds on. Nothing here
 * imports server code: the SDK and the document generator load this module
 * on its own.
 */

export const USER_TYPES = ["customer", "mitra", "cc"] as const;
export const userTypeSchema = z.enum(USER_TYPES);

/** Ids are UUID strings (contract §1). */
export const uuidSchema = z.uuid();

/** Times are ISO-8601 UTC with milliseconds (contract §1). */
export const isoTimeSchema = z.iso.datetime();

/** Postgres text cannot hold NUL: refused as bad input (400) rather than failing in the driver (500). */
export const withoutNul = <S extends z.ZodString>(s: S) =>
  s.refine((v) => !v.includes("\u0000"), { message: "Must not contain a NUL character" });

/** A display name as customers, mitras and operators see it. */
export const displayNameSchema = withoutNul(z.string().trim().min(1).max(80));

/** A search string (matched with LIKE; wildcards are escaped by the query). */
export const searchSchema = withoutNul(z.string().trim().max(100));

/** An `Idempotency-Key` header or a frame's `idempotencyKey`: 1–200 printable ASCII characters (contract §7). */
export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x20-\x7e]+$/, "must be printable ASCII");

/** A frame's `id`: a string or number of the client's choosing, echoed back exactly (contract §4). */
export const FRAME_ID_MAX = 128;
export const frameIdSchema = z.union([z.string().max(FRAME_ID_MAX), z.number().finite()]);

/** A keyset cursor of a list (opaque; pass back `nextCursor`). */
export const cursorSchema = z.string().max(200);

/** `limit` of a paged list: 50 by default, at most 200. */
export const pageLimitSchema = z.coerce.number().int().min(1).max(200).default(50);

/** A route or frame that takes no fields: an empty body is `{}`, anything else in it is refused. */
export const noFieldsSchema = z.object({}).strict();

/** What an answer without fields carries. */
export const emptyAnswerSchema = z.object({}).strict();
