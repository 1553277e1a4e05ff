import type { Clock } from "../clock.js";
import type { Pool } from "../db/pool.js";
import type { Logger } from "../log.js";
import { findOperatorByEmail, insertOperator } from "./operator-store.js";
import type { PasswordHasher } from "./password-hasher.js";

/**
 * Creates the admin named by ADMIN_EMAIL/ADMIN_PASSWORD when no operator has
 * that email (contract §0). Several processes may start at once: the insert
 * does nothing on a conflict with the lower(email) index, so one wins. An
 * existing account is left as it is (its password, role and status are the
 * control center's business from then on).
 */
export async function ensureFirstAdmin(d: {
  pool: Pool;
  hasher: PasswordHasher;
  email: string;
  password: string;
  now: Clock;
  log: Logger;
}): Promise<void> {
  // Checked first so that an ordinary restart costs no bcrypt hash.
  if (await findOperatorByEmail(d.pool, d.email)) return;
  const passwordHash = await d.hasher.hash(d.password);
  const row = await insertOperator(d.pool, { email: d.email, role: "admin", passwordHash, now: d.now() });
  if (row) d.log.info({ operatorId: row.id, email: row.email }, "first admin created");
}
