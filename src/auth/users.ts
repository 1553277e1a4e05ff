import type { Queryable } from "../db/pool.js";
import { iso } from "../time-format.js";
import type { UserType } from "./user-types.js";

/** The signed-in user object (`user` of a token pair, `GET …/auth/me`). */
export type UserView = { id: string; type: UserType } & Record<string, unknown>;

interface CustomerRow {
  id: string;
  display_name: string | null;
  phone: string | null;
  email: string | null;
  is_anonymous: boolean;
  is_active: boolean;
  google_sub: string | null;
  apple_sub: string | null;
  created_at: Date;
}
interface MitraRow {
  id: string;
  display_name: string;
  phone: string;
  is_active: boolean;
  is_online: boolean;
  verified_at: Date | null;
  max_concurrent_sessions: number;
  created_at: Date;
}
interface OperatorRow {
  id: string;
  email: string;
  role: string;
  status: string;
  created_at: Date;
}

export interface LoadedUser {
  view: UserView;
  isActive: boolean;
}

export const customerView = (r: CustomerRow): UserView => ({
  id: r.id,
  type: "customer",
  displayName: r.display_name,
  phone: r.phone,
  email: r.email,
  isAnonymous: r.is_anonymous,
  linkedProviders: [...(r.google_sub ? ["google"] : []), ...(r.apple_sub ? ["apple"] : [])],
  createdAt: iso(r.created_at),
});

export const mitraView = (r: MitraRow): UserView => ({
  id: r.id,
  type: "mitra",
  displayName: r.display_name,
  phone: r.phone,
  isActive: r.is_active,
  online: r.is_online,
  verifiedAt: iso(r.verified_at),
  maxConcurrentSessions: r.max_concurrent_sessions,
  createdAt: iso(r.created_at),
});

export const operatorView = (r: OperatorRow): UserView => ({
  id: r.id,
  type: "cc",
  email: r.email,
  role: r.role,
  status: r.status,
  createdAt: iso(r.created_at),
});

/** Loads any user by type and id; null when there is no such user. */
export async function loadUser(db: Queryable, type: UserType, id: string): Promise<LoadedUser | null> {
  if (type === "customer") {
    const { rows } = await db.query<CustomerRow>("SELECT * FROM customers WHERE id = $1", [id]);
    return rows[0] ? { view: customerView(rows[0]), isActive: rows[0].is_active } : null;
  }
  if (type === "mitra") {
    const { rows } = await db.query<MitraRow>("SELECT * FROM mitras WHERE id = $1", [id]);
    return rows[0] ? { view: mitraView(rows[0]), isActive: rows[0].is_active } : null;
  }
  const { rows } = await db.query<OperatorRow>(
    "SELECT id, email, role, status, created_at FROM control_center_users WHERE id = $1",
    [id],
  );
  return rows[0] ? { view: operatorView(rows[0]), isActive: rows[0].status !== "disabled" } : null;
}
