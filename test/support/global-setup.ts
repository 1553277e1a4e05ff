import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrate } from "../../src/db/migrate.js";
import { dbUrl, TEST_PG_ADMIN_URL } from "./env.js";

declare module "vitest" {
  export interface ProvidedContext {
    templateDb: string;
  }
}

/** Migrates one template database per run; each test file clones it (CREATE DATABASE … TEMPLATE). */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const name = `halo_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name}`);
  await admin.query(`CREATE DATABASE ${name}`);
  await migrate(dbUrl(name));
  await admin.end();
  project.provide("templateDb", name);

  return async () => {
    const c = new pg.Client({ connectionString: TEST_PG_ADMIN_URL });
    await c.connect();
    // Drop what this run made (clones of the template are named after it).
    const { rows } = await c.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname = $1 OR datname LIKE $2",
      [name, `halo_t_${process.pid}_%`],
    );
    for (const r of rows) await c.query(`DROP DATABASE IF EXISTS ${r.datname} WITH (FORCE)`).catch(() => {});
    await c.end();
  };
}
