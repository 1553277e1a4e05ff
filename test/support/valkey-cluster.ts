import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { afterAll, beforeAll } from "vitest";
import type { ValkeyClient } from "../../src/valkey/client.js";
import { createTestDatabase, type TestDatabase } from "./db.js";
import { TEST_VALKEY_CLUSTER_NODES } from "./env.js";
import { startTestGateway, type TestGateway } from "./gateway.js";
import type { Party } from "./pairing.js";
import { QUIET_SWEEPS } from "./setup.js";
import { testPrefix } from "./valkey.js";

const SCRIPT = fileURLToPath(new URL("../../scripts/valkey-cluster.sh", import.meta.url));
const run = promisify(execFile);

/** A Valkey Cluster for a test: the suite's shared one (test:cluster) or a private one it may break. */
export interface TestCluster {
  /** `host:port,…` of the three primaries it was created with (VALKEY_CLUSTER_NODES). */
  nodes: string;
  /** Ports of the nodes that are primaries now. */
  primaryPorts(): Promise<number[]>;
  /** kill -9 of the node on `port` (a private cluster only). */
  kill(port: number): void;
  stop(): Promise<void>;
}

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });

/** Six free ports in a row, and their cluster-bus ports (+10000), in a range nobody else uses. */
async function freeBasePort(): Promise<number> {
  for (;;) {
    const base = 21000 + Math.floor(Math.random() * 8000);
    const ports = [0, 1, 2, 3, 4, 5].flatMap((i) => [base + i, base + i + 10000]);
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
}

/** Reads CLUSTER NODES from any live node: the ports of the current primaries. */
async function primaries(ports: number[]): Promise<number[]> {
  for (const port of ports) {
    const c = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      await c.connect();
      const text = (await c.cluster("NODES")) as string;
      return text
        .split("\n")
        .map((l) => l.split(" "))
        .filter((f) => {
          const flags = (f[2] ?? "").split(",");
          return flags.includes("master") && !flags.some((x) => x.startsWith("fail")) && (f[8] ?? "") !== "";
        })
        .map((f) => Number((f[1] ?? "").split(/[:@]/)[1]));
    } catch {
      // that node is down: ask the next
    } finally {
      c.disconnect();
    }
  }
  throw new Error("no cluster node answers");
}

/**
 * A private cluster (3 primaries, 1 replica each) on free ports, started by
 * scripts/valkey-cluster.sh: for tests that kill nodes.
 */
export async function startPrivateCluster(): Promise<TestCluster> {
  const base = await freeBasePort();
  const dir = join(tmpdir(), `halo-vc-${process.pid}-${base}`);
  const { stdout } = await run("bash", [SCRIPT, "start", "--base-port", String(base), "--dir", dir], {
    timeout: 60_000,
  });
  const nodes = (stdout.trim().split("\n").pop() ?? "").replace("VALKEY_CLUSTER_NODES=", "");
  const all = [0, 1, 2, 3, 4, 5].map((i) => base + i);
  return {
    nodes,
    primaryPorts: () => primaries(all),
    kill: (port) =>
      process.kill(Number(readFileSync(join(dir, String(port), "node.pid"), "utf8")), "SIGKILL"),
    stop: async () => {
      await run("bash", [SCRIPT, "stop", "--dir", dir], { timeout: 30_000 });
    },
  };
}

/** The suite's shared cluster under `npm run test:cluster`, else a private one. */
export async function someCluster(): Promise<TestCluster> {
  if (!TEST_VALKEY_CLUSTER_NODES) return startPrivateCluster();
  const ports = TEST_VALKEY_CLUSTER_NODES.split(",").map((n) => Number(n.split(":")[1]));
  const all = ports.flatMap((p) => [p, p + ports.length]);
  return {
    nodes: TEST_VALKEY_CLUSTER_NODES,
    primaryPorts: () => primaries(all),
    kill: () => {
      throw new Error("never kill a node of the shared cluster");
    },
    stop: async () => {},
  };
}

/** Sum of one INFO field over the given nodes (e.g. errorstat_CROSSSLOT's count). */
export async function infoSum(ports: number[], section: string, pattern: RegExp): Promise<number> {
  let sum = 0;
  for (const port of ports) {
    const c = new Redis({ port, host: "127.0.0.1" });
    const text = await c.info(section);
    c.disconnect();
    for (const line of text.split("\n")) {
      const m = pattern.exec(line);
      if (m) sum += Number(m[1]);
    }
  }
  return sum;
}

/** The port of the primary that owns `key`'s slot now (CLUSTER KEYSLOT, then CLUSTER SHARDS). */
export async function ownerPort(client: ValkeyClient, key: string): Promise<number> {
  const slot = Number(await client.call("CLUSTER", "KEYSLOT", key));
  const shards = (await client.call("CLUSTER", "SHARDS")) as unknown[][];
  for (const shard of shards) {
    const slots = shard[1] as number[];
    const nodes = shard[3] as unknown[][];
    for (let i = 0; i < slots.length; i += 2)
      if (slot >= (slots[i] as number) && slot <= (slots[i + 1] as number)) {
        const primary = nodes.find(
          (n) => n[n.indexOf("role") + 1] === "master" && n[n.indexOf("health") + 1] === "online",
        );
        if (primary) return Number(primary[primary.indexOf("port") + 1]);
      }
  }
  throw new Error(`no live primary owns the slot of ${key}`);
}

export interface ClusterContext {
  cluster: TestCluster;
  db: TestDatabase;
  /** Gateways in cluster mode on one database and one key prefix. */
  gateways: TestGateway[];
  /** Sockets to close at the end. */
  parties: Party[];
}

/**
 * Registers beforeAll/afterAll for a test file: a cluster (`open`: the shared
 * one or a private one), its own database, and `count` gateways on both with
 * quiet sweeps.
 */
export function useClusterGateways(count: number, open: () => Promise<TestCluster>): ClusterContext {
  const ctx = { gateways: [], parties: [] } as unknown as ClusterContext;
  beforeAll(async () => {
    ctx.cluster = await open();
    ctx.db = await createTestDatabase();
    const prefix = testPrefix();
    for (let i = 0; i < count; i++)
      ctx.gateways.push(
        await startTestGateway({
          databaseUrl: ctx.db.url,
          valkeyUrl: null,
          prefix,
          env: { ...QUIET_SWEEPS, VALKEY_CLUSTER_NODES: ctx.cluster.nodes },
        }),
      );
  }, 90_000);
  afterAll(async () => {
    await Promise.all(ctx.parties.map((p) => p.ws.close()));
    for (const g of ctx.gateways) await g.close();
    await ctx.db?.drop();
    await ctx.cluster?.stop();
  });
  return ctx;
}
