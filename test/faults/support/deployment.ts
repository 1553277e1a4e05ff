import { mkdirSync, writeFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll } from "vitest";
import { createKeys, type Keys } from "../../../src/valkey/keys.js";
import { createTestDatabase, type TestDatabase } from "../../support/db.js";
import { TEST_VALKEY_URL } from "../../support/env.js";
import { type SpawnedGateway, spawnGateway, TEST_JWT_SECRET } from "../../support/gateway.js";
import { ADMIN_ENV } from "../../support/people.js";
import { TcpProxy } from "../../support/tcp-proxy.js";
import { testPrefix } from "../../support/valkey.js";

/**
 * Short staleness and sweeps every 5 s, so a fault that would turn mitras
 * offline (auto-offline on an empty or unreachable mirror) shows within the
 * test; mitras of the load heartbeat every second, far inside 15 s.
 */
export const FAULT_STALE_SECONDS = 15;
const FAULT_ENV = {
  HEARTBEAT_STALE_SECONDS: String(FAULT_STALE_SECONDS),
  MITRA_AUTO_OFFLINE_SWEEP_SECONDS: "5",
  HEARTBEAT_MIRROR_INTERVAL_SECONDS: "5",
  VALKEY_ONLINE_MIRROR_SWEEP_SECONDS: "60",
  ENABLE_TEST_ROUTES: "true",
  AUTH_JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: "info",
  ...ADMIN_ENV,
};

export type ValkeyTarget = { url: string } | { clusterNodes: string };

/**
 * Several gateway processes (dist/main.js) of one deployment — one database,
 * one Valkey (or cluster) and key prefix — behind a round-robin TCP balancer
 * that skips a process that refuses connections. Clients are given the
 * balancer's URL only, as apps are given one host name.
 */
export class Deployment {
  readonly keys: Keys;
  private constructor(
    readonly env: Record<string, string> & { VALKEY_KEY_PREFIX: string },
    readonly gateways: SpawnedGateway[],
    readonly balancer: TcpProxy,
  ) {
    this.keys = createKeys({ prefix: env.VALKEY_KEY_PREFIX, cluster: "VALKEY_CLUSTER_NODES" in env });
  }

  static async start(opts: {
    count: number;
    databaseUrl: string;
    valkey: ValkeyTarget;
  }): Promise<Deployment> {
    const env = {
      ...FAULT_ENV,
      VALKEY_KEY_PREFIX: testPrefix(),
      DATABASE_URL: opts.databaseUrl,
      ...("url" in opts.valkey
        ? { VALKEY_URL: opts.valkey.url }
        : { VALKEY_CLUSTER_NODES: opts.valkey.clusterNodes }),
    };
    // The first creates the admin; the rest start together.
    const first = await spawnGateway(env);
    const rest = await Promise.all(Array.from({ length: opts.count - 1 }, () => spawnGateway(env)));
    const gateways = [first, ...rest];
    const balancer = await TcpProxy.start(gateways.map((g) => g.publicUrl));
    return new Deployment(env, gateways, balancer);
  }

  /** What clients are given: the balancer. */
  get url(): string {
    return this.balancer.url;
  }

  /** Gateways whose process still runs. */
  live(): SpawnedGateway[] {
    return this.gateways.filter((g) => g.child.exitCode === null && g.child.signalCode === null);
  }

  /** The internal listener of a process that still runs (operators' calls, counts). */
  get internalUrl(): string {
    const g = this.live()[0];
    if (!g) throw new Error("no gateway process left");
    return g.internalUrl;
  }

  async close(): Promise<void> {
    await Promise.all(this.live().map((g) => g.stop("SIGTERM")));
    // FAULT_GATEWAY_LOGS=<folder>: each process's log lines, to see what it did during the fault.
    const dir = process.env.FAULT_GATEWAY_LOGS;
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const [i, g] of this.gateways.entries()) writeFileSync(`${dir}/gateway-${i}.log`, g.output());
    }
    await this.balancer.close();
  }
}

export interface DeploymentContext {
  db: TestDatabase;
  deployment: Deployment;
}

/**
 * Registers beforeAll/afterAll for a scenario file: its own database (load
 * sign-ins allowed), `count` gateways on the Valkey that `valkey` starts (the
 * shared one by default), all stopped afterwards, the Valkey last.
 */
export function useDeployment(
  valkey: () => Promise<{ target: ValkeyTarget; stop?: () => Promise<void> }> = async () => ({
    target: { url: TEST_VALKEY_URL },
  }),
  count = 3,
): DeploymentContext {
  const ctx = {} as DeploymentContext;
  let stopValkey: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ctx.db = await createTestDatabase();
    await allowLoadSignIns(ctx.db.url);
    const v = await valkey();
    stopValkey = v.stop;
    ctx.deployment = await Deployment.start({ count, databaseUrl: ctx.db.url, valkey: v.target });
  });
  afterAll(async () => {
    await ctx.deployment?.close();
    await stopValkey?.();
    await ctx.db?.drop();
  });
  return ctx;
}

/** Lets the OTP sign-ins of a whole load come from 127.0.0.1 (before the gateways start). */
export async function allowLoadSignIns(databaseUrl: string): Promise<void> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  await c.query("UPDATE app_config SET value = '100000'::jsonb WHERE key = 'otp_max_per_ip_per_hour'");
  await c.end();
}
