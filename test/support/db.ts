import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { dbUrl, TEST_PG_ADMIN_URL } from "./env.js";

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A database of this test file's own: a clone of the migrated template, or empty. */
export async function createTestDatabase(opts: { empty?: boolean } = {}): Promise<TestDatabase> {
  // The global setup's pid names the clones, so its teardown can find leftovers.
  const template = inject("templateDb");
  const runPid = template.replace("halo_tpl_", "");
  const name = `halo_t_${runPid}_${randomBytes(5).toString("hex")}`;
  await admin(async (c) => {
    for (let attempt = 0; ; attempt++) {
      try {
        await c.query(
          opts.empty ? `CREATE DATABASE ${name}` : `CREATE DATABASE ${name} TEMPLATE ${template}`,
        );
        return;
      } catch (err) {
        // Two clones of one template at the same instant: "source database is being accessed by other users".
        if (attempt < 20 && /being accessed by other users/.test((err as Error).message)) {
          await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
          continue;
        }
        throw err;
      }
    }
  });
  return {
    name,
    url: dbUrl(name),
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}
