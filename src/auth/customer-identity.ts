import type { Queryable } from "../db/pool.js";
import { AppError } from "../errors.js";
import { customerView, type UserView } from "./users.js";

/** The customer columns that prove who someone is; each is UNIQUE. */
export type IdentityColumn = "phone" | "google_sub" | "apple_sub";

export interface ProvenIdentity {
  column: IdentityColumn;
  value: string;
  /** Kept on the customer when it has none yet (a provider-verified email). */
  email?: string | null;
  /** Display name for a customer created by this sign-in. */
  displayName?: string | null;
}

type CustomerRow = Parameters<typeof customerView>[0];

const LABEL: Record<IdentityColumn, string> = { phone: "phone", google_sub: "Google", apple_sub: "Apple" };

/**
 * The customer a proven identity signs in as (contract §2), inside the
 * caller's transaction:
 *
 * - with a customer's Bearer (`linkTo`), the identity is added to that
 *   customer — an anonymous one becomes a regular customer and keeps its id;
 *   409 IDENTITY_CONFLICT when the identity belongs to another customer or the
 *   customer already has a different one of the same kind;
 * - without, the customer holding the identity, or a new one.
 */
export async function customerForIdentity(
  tx: Queryable,
  id: ProvenIdentity,
  linkTo: string | null,
  now: Date,
): Promise<UserView> {
  const col = id.column; // a member of IdentityColumn, never client text
  const owner = (await tx.query<CustomerRow>(`SELECT * FROM customers WHERE ${col} = $1`, [id.value]))
    .rows[0];
  if (linkTo !== null) {
    if (owner && owner.id !== linkTo) throw conflict(`This ${LABEL[col]} belongs to another account`);
    if (owner) return active(owner);
    const linked = await tx
      .query<CustomerRow>(
        `UPDATE customers SET ${col} = $2, is_anonymous = false, email = COALESCE(email, $3), updated_at = $4
         WHERE id = $1 AND ${col} IS NULL RETURNING *`,
        [linkTo, id.value, id.email ?? null, now],
      )
      .catch(onUniqueViolation(col));
    const row = linked.rows[0];
    if (!row) throw conflict(`This account already has another ${LABEL[col]} identity`);
    return active(row);
  }
  if (owner) return active(owner);
  const created = await tx.query<CustomerRow>(
    `INSERT INTO customers (${col}, email, display_name, is_anonymous, created_at, updated_at)
     VALUES ($1, $2, $3, false, $4, $4) ON CONFLICT (${col}) DO NOTHING RETURNING *`,
    [id.value, id.email ?? null, id.displayName ?? null, now],
  );
  // Nothing inserted: a concurrent sign-in created it a moment ago.
  const row =
    created.rows[0] ??
    (await tx.query<CustomerRow>(`SELECT * FROM customers WHERE ${col} = $1`, [id.value])).rows[0];
  if (!row) throw new Error(`customer for ${col} vanished during sign-in`);
  return active(row);
}

function active(row: CustomerRow): UserView {
  if (!row.is_active) throw new AppError("ACCOUNT_INACTIVE", 403, "This account is deactivated");
  return customerView(row);
}

const conflict = (message: string): AppError => new AppError("IDENTITY_CONFLICT", 409, message);

/** A concurrent link of the same identity to another customer surfaces as a unique violation. */
function onUniqueViolation(col: IdentityColumn) {
  return (err: unknown): never => {
    if ((err as { code?: string }).code === "23505") {
      throw conflict(`This ${LABEL[col]} belongs to another account`);
    }
    throw err;
  };
}
