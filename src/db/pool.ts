import pg from "pg";

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = Pick<pg.Pool, "query">;

// Postgres `timestamptz` and `int8` stay as JS Date / string by default; ids are uuids (strings).
export function createPool(
  databaseUrl: string,
  opts: { max?: number; applicationName?: string } = {},
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: opts.max ?? 10,
    // Fail fast so a request that needs a down Postgres answers 503 quickly instead of hanging.
    connectionTimeoutMillis: 2000,
    idleTimeoutMillis: 30_000,
    application_name: opts.applicationName ?? "halo-gateway",
  });
  // An idle client losing its connection emits here; without a listener it would crash the process.
  pool.on("error", () => {});
  // A checked-out client (a transaction) losing its connection — its backend terminated, Postgres
  // failing over — emits 'error' on itself, and pg-pool listens only while it is idle: without this
  // the process crashed. Its query rejects with the same error, which the caller handles.
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

/**
 * A connection of its own with the pool's settings, outside the pool (it
 * holds session state, such as a lock kept for the process's life, and must
 * not take a slot from the requests).
 */
export function dedicatedClient(pool: pg.Pool): pg.Client {
  return new pg.Client({ ...pool.options, application_name: "halo-gateway-owner" });
}

/** Runs fn inside BEGIN/COMMIT; rolls back on any throw. The client never escapes. */
export async function withTransaction<T>(pool: pg.Pool, fn: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** True when the error means Postgres itself is unreachable (not a bad query). */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code ?? "";
  return (
    [
      "ECONNREFUSED",
      "ECONNRESET",
      "ETIMEDOUT",
      "EPIPE",
      "ENOTFOUND",
      "57P01",
      "57P02",
      "57P03",
      "08006",
      "08001",
      "08003",
    ].includes(code) ||
    /timeout exceeded when trying to connect|Connection terminated|connection error/i.test(err.message)
  );
}
