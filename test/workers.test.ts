import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { descendantPids, establishedPerProcess } from "../bench/lib/proc-sockets.mjs";
import { anonymousCustomer } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { TEST_VALKEY_ENV } from "./support/env.js";
import { type SpawnedGateway, spawnGateway, waitFor } from "./support/gateway.js";
import { testPrefix } from "./support/valkey.js";

const SECRET = "workers-test-secret-0123456789-abcdef";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** WORKERS=2 on this file's database and a fresh key prefix of the suite's shared Valkey (a cluster in test:cluster). */
const spawnWorkers = (env: Record<string, string> = {}): Promise<SpawnedGateway> =>
  spawnGateway({
    WORKERS: "2",
    DATABASE_URL: db.url,
    ...TEST_VALKEY_ENV,
    VALKEY_KEY_PREFIX: testPrefix(),
    AUTH_JWT_SECRET: SECRET,
    ...env,
  });

interface SupervisorListening {
  publicPort: number;
  internalPort: number;
  workers: number;
  pids: number[];
}

/** The supervisor's own "listening" line (the workers print one each too, without `workers`). */
async function supervisorLine(gw: SpawnedGateway): Promise<SupervisorListening> {
  let line: SupervisorListening | undefined;
  await waitFor(() => {
    line = gw
      .output()
      .split("\n")
      .filter((l) => l.includes('"listening"') && l.includes('"workers"'))
      .map((l) => JSON.parse(l) as SupervisorListening)[0];
    return line !== undefined;
  }, 30_000);
  return line as SupervisorListening;
}

/** A plain HTTP GET on a connection of its own (no keep-alive: each may land on another worker). */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject);
  });
}

function openSockets(port: number, n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(port, "127.0.0.1", () => resolve(s));
          s.on("error", reject);
        }),
    ),
  );
}

function wsHello(publicUrl: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${publicUrl.replace("http", "ws")}/ws?access_token=${token}`);
    ws.once("message", (data) => {
      ws.close();
      resolve(JSON.parse(data.toString()).type);
    });
    ws.once("error", reject);
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("WORKERS: several gateway processes on one machine", () => {
  it("with WORKERS=2 both workers take connections, and a worker killed with SIGKILL is restarted while the service keeps answering", async () => {
    const gw = await spawnWorkers();
    const sup = await supervisorLine(gw);
    expect(sup.workers).toBe(2);
    expect(sup.pids).toHaveLength(2);

    // The kernel spreads new connections over both workers' SO_REUSEPORT sockets.
    const sockets = await openSockets(sup.publicPort, 40);
    let spread: number[] = [];
    await waitFor(() => {
      spread = establishedPerProcess(sup.pids, sup.publicPort);
      return spread.reduce((a, b) => a + b, 0) === 40;
    }, 5000);
    for (const s of sockets) s.destroy();
    expect(Math.min(...spread)).toBeGreaterThan(0);

    const [victim, survivor] = sup.pids as [number, number];
    process.kill(victim, "SIGKILL");
    await waitFor(() => !alive(victim), 5000);
    // Straight after the kill, every new connection lands on the survivor.
    const customer = await anonymousCustomer(gw.publicUrl);
    for (let i = 0; i < 10; i++) expect(await freshGet(`${gw.internalUrl}/healthz`)).toBe(200);
    expect(await wsHello(gw.publicUrl, customer.accessToken)).toBe("hello");

    // The supervisor starts a new worker in the victim's place, which takes connections too.
    let replacement = 0;
    await waitFor(() => {
      replacement = descendantPids(gw.child.pid as number).find((p) => p !== survivor && p !== victim) ?? 0;
      return replacement > 0 && gw.output().includes('"worker died: restarting it"');
    }, 15_000);
    await waitFor(() => gw.output().split('"listening"').length - 1 >= 4, 30_000);
    const more = await openSockets(sup.publicPort, 40);
    await waitFor(() => (establishedPerProcess([replacement], sup.publicPort)[0] as number) > 0, 5000);
    for (const s of more) s.destroy();
    expect(await wsHello(gw.publicUrl, customer.accessToken)).toBe("hello");

    const { code } = await gw.stop("SIGTERM");
    expect(code).toBe(0);
    expect(alive(survivor) || alive(replacement)).toBe(false);
  }, 90_000);

  it("with no configuration, SIGTERM stops every worker, the embedded Postgres and the embedded Valkey, and exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "halo-workers-"));
    // mkdtemp makes it 0700; as root the embedded Postgres runs as user postgres, which must pass through it.
    chmodSync(dataDir, 0o755);
    try {
      const gw = await spawnGateway(
        { WORKERS: "2", DATA_DIR: join(dataDir, "data"), PATH: process.env.PATH ?? "" },
        120_000,
      );
      await supervisorLine(gw);
      expect(gw.output()).toContain("embedded Postgres started");
      expect(gw.output()).toContain("embedded valkey started");
      // Started once, by the supervisor, not once per worker.
      expect(gw.output().split("embedded Postgres started").length - 1).toBe(1);
      const tree = descendantPids(gw.child.pid as number);
      // Two workers, the Postgres helper with its postgres processes, the Valkey watchdog and its server.
      expect(tree.length).toBeGreaterThanOrEqual(5);

      const { code, ms } = await gw.stop("SIGTERM");
      expect(code).toBe(0);
      expect(ms).toBeLessThan(12_000);
      await waitFor(() => tree.every((pid) => !alive(pid)), 5000);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 150_000);

  it("workers stop by themselves when their supervisor is killed with SIGKILL", async () => {
    const gw = await spawnWorkers();
    const sup = await supervisorLine(gw);
    await gw.stop("SIGKILL");
    // Each worker sees its IPC channel close and runs its own graceful stop.
    await waitFor(() => sup.pids.every((pid) => !alive(pid)), 12_000);
  }, 60_000);

  it("a worker that cannot listen ends the supervisor with exit 1 instead of restarting it for ever", async () => {
    // A listener without SO_REUSEPORT holds the public port: no worker can bind it.
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const started = Date.now();
      await expect(spawnWorkers({ PUBLIC_PORT: String(port) })).rejects.toThrow(/gateway exited with 1/);
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      blocker.close();
    }
  }, 60_000);

  it("a bad WORKERS value stops the process with exit 1 and a line naming it", async () => {
    for (const value of ["0", "two", "1.5"]) {
      const err = await spawnGateway({ WORKERS: value, DATABASE_URL: db.url }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/gateway exited with 1/);
      expect((err as Error).message).toMatch(/^WORKERS: must be "auto" or an integer from 1 to 64/m);
    }
  });
});
