import type { Queryable } from "../db/pool.js";
import { customerView, type UserView } from "./users.js";

export async function createAnonymousCustomer(
  tx: Queryable,
  displayName: string | null,
  now: Date,
): Promise<UserView> {
  const { rows } = await tx.query(
    `INSERT INTO customers (display_name, is_anonymous, created_at, updated_at) VALUES ($1, true, $2, $2) RETURNING *`,
    [displayName, now],
  );
  return customerView(rows[0]);
}
