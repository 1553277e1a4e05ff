import { z } from "zod";

/** Postgres text cannot hold NUL: refused as bad input (400) rather than failing in the driver (500). */
export const withoutNul = <S extends z.ZodString>(s: S) =>
  s.refine((v) => !v.includes("\u0000"), { message: "Must not contain a NUL character" });

/** A display name as customers, mitras and operators see it. */
export const displayNameSchema = withoutNul(z.string().trim().min(1).max(80));

/** A search string (matched with LIKE; wildcards are escaped by the query). */
export const searchSchema = withoutNul(z.string().trim().max(100));
