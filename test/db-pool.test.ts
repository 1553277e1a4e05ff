import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, type Pool, withTransaction } from "../src/db/pool.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";

let db: TestDatabase;
let pool: Pool;
beforeAll(async () => {
  db = await createTestDatabase({ empty: true });
  pool = createPool(db.url, { max: 2 });
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

describe("the Postgres pool", () => {
  it("a transaction whose backend is terminated rejects; the process carries on and the pool serves the next one", async () => {
    const tx = withTransaction(pool, async (c) => {
      const { rows } = await c.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      // Cut by another connection while this one is inside its transaction (a DBA, a failover).
      await pool.query("SELECT pg_terminate_backend($1)", [rows[0]?.pid]);
      await c.query("SELECT pg_sleep(5)");
    });
    await expect(tx).rejects.toThrow();
    // An 'error' event on the checked-out client without a listener would have been an uncaught
    // exception here (vitest fails the run on one); the pool goes on with a new connection.
    const { rows } = await pool.query<{ one: number }>("SELECT 1 AS one");
    expect(rows[0]?.one).toBe(1);
  });
});
