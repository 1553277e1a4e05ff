import { afterAll, beforeAll } from "vitest";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { TEST_VALKEY_URL } from "./env.js";
import { startTestGateway, type TestGateway, waitFor } from "./gateway.js";
import { OwnValkey, testPrefix } from "./valkey.js";

/** Sweeps hourly, so none fires during a test (tests run them by hand with scheduler.runNow). */
export const QUIET_SWEEPS = {
  MITRA_AUTO_OFFLINE_SWEEP_SECONDS: "3600",
  HEARTBEAT_MIRROR_INTERVAL_SECONDS: "3600",
  VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: "3600",
};

export interface GatewaysContext {
  db: TestDatabase;
  /** The test's own Valkey (which it may stop), or null when the gateways use the shared one. */
  valkey: OwnValkey | null;
  /** Gateways on one database and one key prefix: several processes of one deployment. */
  gateways: TestGateway[];
}

/**
 * Registers beforeAll/afterAll for a test file: its own database, `count`
 * gateways sharing it and a key prefix, on the shared Valkey or on one of the
 * file's own (`ownValkey`, for tests that stop and restart it).
 */
export function useGateways(opts: {
  count?: number;
  ownValkey?: boolean;
  env?: Record<string, string>;
  now?: () => Date;
}): GatewaysContext {
  const ctx = { gateways: [] } as unknown as GatewaysContext;
  beforeAll(async () => {
    ctx.db = await createTestDatabase();
    ctx.valkey = opts.ownValkey ? await OwnValkey.start() : null;
    const prefix = testPrefix();
    for (let i = 0; i < (opts.count ?? 1); i++) {
      ctx.gateways.push(
        await startTestGateway({
          databaseUrl: ctx.db.url,
          valkeyUrl: ctx.valkey?.url ?? TEST_VALKEY_URL,
          prefix,
          ...(opts.env ? { env: opts.env } : {}),
          ...(opts.now ? { now: opts.now } : {}),
        }),
      );
    }
  });
  afterAll(async () => {
    for (const gw of ctx.gateways) await gw.close();
    await ctx.valkey?.stop();
    await ctx.db?.drop();
  });
  return ctx;
}

/** Stops the file's own Valkey and waits until every gateway has seen it go down. */
export async function stopOwnValkey(ctx: GatewaysContext): Promise<void> {
  await ctx.valkey?.stop();
  await waitFor(() => ctx.gateways.every((g) => g.health?.state === "down"), 3000);
}

/** Starts the file's own Valkey again (same port) and waits until every gateway is connected. */
export async function startOwnValkey(ctx: GatewaysContext): Promise<void> {
  await ctx.valkey?.startAgain();
  await waitFor(() => ctx.gateways.every((g) => g.health?.state === "up"), 5000);
}
