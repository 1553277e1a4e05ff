import { randomBytes } from "node:crypto";
import pg from "pg";
import { BASE_ENV } from "./child-service.mjs";
import { deleteValkeyKeys, scratchDatabaseUrl, withAdmin } from "./scratch-stores.mjs";

/**
 * One bench run's scratch resources: database `halo_bench_<name>_<pid>`, the
 * same name and a `:` as key prefix, a random JWT secret, and what the run
 * started (`gateway`, `clients`), which `cleanup` stops and removes, all of
 * it, also after a failure half-way. BENCH_PG_ADMIN_URL and BENCH_VALKEY_URL
 * say where.
 */
export function benchScratch(name, log) {
  const pgAdminUrl = process.env.BENCH_PG_ADMIN_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
  const valkeyUrl = process.env.BENCH_VALKEY_URL ?? "redis://127.0.0.1:6379";
  const dbName = `halo_bench_${name}_${process.pid}`;
  const s = {
    dbName,
    prefix: `${dbName}:`,
    databaseUrl: scratchDatabaseUrl(pgAdminUrl, dbName),
    valkeyUrl,
    jwtSecret: randomBytes(36).toString("base64url"),
    /** A startChild service (stopped with SIGTERM, then SIGKILL). */
    gateway: null,
    /** startIpcChild clients (killed). */
    clients: [],
    pool: null,
    dbCreated: false,
    /** Creates the database and a small pool on it (`s.pool`). */
    async createDatabase() {
      await withAdmin(pgAdminUrl, (a) => a.query(`CREATE DATABASE ${dbName}`));
      s.dbCreated = true;
      s.pool = new pg.Pool({ connectionString: s.databaseUrl, max: 2 });
    },
    /** The environment of a gateway on the scratch stores; `extra` on top. */
    gatewayEnv(extra = {}) {
      return {
        ...BASE_ENV,
        DATABASE_URL: s.databaseUrl,
        VALKEY_URL: valkeyUrl,
        VALKEY_KEY_PREFIX: s.prefix,
        AUTH_JWT_SECRET: s.jwtSecret,
        ...extra,
      };
    },
    async cleanup() {
      for (const c of s.clients.splice(0)) c.kill();
      await s.gateway?.stop("SIGTERM", 12_000).catch(() => {});
      await s.pool?.end().catch(() => {});
      if (s.dbCreated)
        await withAdmin(pgAdminUrl, (a) => a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`)).catch(
          (err) => log(`could not drop ${dbName}: ${err.message}`),
        );
      await deleteValkeyKeys(valkeyUrl, s.prefix).catch((err) =>
        log(`could not delete ${s.prefix}*: ${err.message}`),
      );
    },
  };
  return s;
}
