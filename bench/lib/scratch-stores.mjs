// The bench's own database and Valkey keys: made at start, removed at the end (also on Ctrl-C).
import Redis from "ioredis";
import pg from "pg";

/** Runs fn with a client on the admin database (where databases are created and dropped). */
export async function withAdmin(adminUrl, fn) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

export const createDatabase = (adminUrl, name) =>
  withAdmin(adminUrl, (a) => a.query(`CREATE DATABASE ${name}`));

export const dropDatabase = (adminUrl, name) =>
  withAdmin(adminUrl, (a) => a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));

/** UNLINKs every key under `prefix` (SCAN, so Valkey is never blocked for long); returns how many. */
export async function deleteValkeyKeys(valkeyUrl, prefix) {
  const redis = new Redis(valkeyUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    let deleted = 0;
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 2000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== "0");
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** The URL of the scratch database `name` on the server of `adminUrl` (same user, host and options). */
export function scratchDatabaseUrl(adminUrl, name) {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}
