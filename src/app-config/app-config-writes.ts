import { type Pool, withTransaction } from "../db/pool.js";
import { type Issue, validationFailed } from "../errors.js";
import { type Tunables, tunablesSchema } from "./tunables.js";

/**
 * Validates a partial update of the tunables key by key (an unknown key or a
 * bad value is named in `issues`) and writes it in one transaction.
 */
export async function writeTunables(pool: Pool, patch: unknown, now: Date): Promise<Partial<Tunables>> {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) {
    throw validationFailed([{ path: "", message: "Expected an object of settings" }]);
  }
  const issues: Issue[] = [];
  const valid: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(patch)) {
    // Own keys only: `constructor`, `toString` or `__proto__` must be an unknown setting, not a lookup on Object.prototype.
    const field = Object.hasOwn(tunablesSchema.shape, key)
      ? tunablesSchema.shape[key as keyof Tunables]
      : undefined;
    if (!field) {
      issues.push({ path: key, message: "Unknown setting" });
      continue;
    }
    const r = field.safeParse(value);
    if (r.success) valid[key] = r.data;
    else issues.push({ path: key, message: r.error.issues[0]?.message ?? "Invalid value" });
  }
  if (issues.length > 0)
    throw validationFailed(issues, `Invalid setting: ${issues.map((i) => i.path).join(", ")}`);
  await withTransaction(pool, async (tx) => {
    for (const [key, value] of Object.entries(valid)) {
      await tx.query(
        `INSERT INTO app_config (key, value, updated_at) VALUES ($1, $2::jsonb, $3)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at`,
        [key, JSON.stringify(value), now],
      );
    }
  });
  return valid as Partial<Tunables>;
}
