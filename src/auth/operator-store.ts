import type { Queryable } from "../db/pool.js";
import { AppError } from "../errors.js";
import { isUuid } from "../ids.js";

/** `control_center_users` and the plain SQL that reads and writes it. */

export type OperatorRole = "admin" | "operator";
export type OperatorStatus = "active" | "invited" | "disabled";

export interface OperatorRow {
  id: string;
  email: string;
  password_hash: string | null;
  role: OperatorRole;
  status: OperatorStatus;
  created_at: Date;
}

const COLUMNS = "id, email, password_hash, role, status, created_at";

/** Emails are kept trimmed and lower-cased; the unique index is on lower(email) too. */
export const normaliseEmail = (email: string): string => email.trim().toLowerCase();

export async function findOperatorByEmail(db: Queryable, email: string): Promise<OperatorRow | null> {
  const { rows } = await db.query<OperatorRow>(
    `SELECT ${COLUMNS} FROM control_center_users WHERE lower(email) = $1`,
    [normaliseEmail(email)],
  );
  return rows[0] ?? null;
}

/** null for an unknown id, including one that is not a UUID (never a Postgres cast error). */
export async function findOperatorById(db: Queryable, id: string): Promise<OperatorRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query<OperatorRow>(`SELECT ${COLUMNS} FROM control_center_users WHERE id = $1`, [
    id,
  ]);
  return rows[0] ?? null;
}

/** Inserts an operator; null when the email is taken (case-insensitively), also under a race. */
export async function insertOperator(
  db: Queryable,
  o: { email: string; role: OperatorRole; passwordHash: string | null; now: Date },
): Promise<OperatorRow | null> {
  const { rows } = await db.query<OperatorRow>(
    `INSERT INTO control_center_users (email, password_hash, role, status, password_changed_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6)
     ON CONFLICT ((lower(email))) DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      normaliseEmail(o.email),
      o.passwordHash,
      o.role,
      o.passwordHash === null ? "invited" : "active",
      o.passwordHash === null ? null : o.now,
      o.now,
    ],
  );
  return rows[0] ?? null;
}

/**
 * Sets a new password. An invited operator who gets a password (accepting the
 * invitation, or an admin's forced reset) becomes active; a disabled one
 * stays disabled. Returns the updated row, or null for an unknown id.
 */
export async function setOperatorPassword(
  db: Queryable,
  id: string,
  passwordHash: string,
  now: Date,
): Promise<OperatorRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query<OperatorRow>(
    `UPDATE control_center_users
     SET password_hash = $2, password_changed_at = $3, updated_at = $3,
         status = CASE WHEN status = 'invited' THEN 'active' ELSE status END
     WHERE id = $1
     RETURNING ${COLUMNS}`,
    [id, passwordHash, now],
  );
  return rows[0] ?? null;
}

/** Throws 403 FORBIDDEN unless the principal is an active admin (contract §2: admin-only routes). */
export async function requireAdmin(db: Queryable, principal: { userId: string }): Promise<OperatorRow> {
  const me = await findOperatorById(db, principal.userId);
  if (me?.role !== "admin" || me.status !== "active") {
    throw new AppError("FORBIDDEN", 403, "Only an admin may do this");
  }
  return me;
}

/** Every operator, oldest first (the control center's list; operators are few). */
export async function listOperators(db: Queryable): Promise<OperatorRow[]> {
  const { rows } = await db.query<OperatorRow>(
    `SELECT ${COLUMNS} FROM control_center_users ORDER BY created_at, id`,
  );
  return rows;
}

export async function setOperatorRole(
  db: Queryable,
  id: string,
  role: OperatorRole,
  now: Date,
): Promise<OperatorRow | null> {
  if (!isUuid(id)) return null;
  const { rows } = await db.query<OperatorRow>(
    `UPDATE control_center_users SET role = $2, updated_at = $3 WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, role, now],
  );
  return rows[0] ?? null;
}
