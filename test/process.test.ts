import { execFileSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { untraversableAncestor } from "../src/db/embedded-postgres.js";
import { anonymousCustomer } from "./support/auth.js";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { spawnGateway, waitFor } from "./support/gateway.js";
import { json } from "./support/http.js";
import { OwnValkey, testPrefix } from "./support/valkey.js";

let db: TestDatabase;
let valkey: OwnValkey;
beforeAll(async () => {
  db = await createTestDatabase({ empty: true });
  valkey = await OwnValkey.start();
});
afterAll(async () => {
  await valkey?.stop();
  await db?.drop();
});

const SECRET = "process-test-secret-0123456789-abcdef";

describe("the service process", () => {
  it("migrates at start, serves, and exits 0 within 10 s of SIGTERM", async () => {
    const gw = await spawnGateway({
      DATABASE_URL: db.url,
      VALKEY_URL: valkey.url,
      VALKEY_KEY_PREFIX: testPrefix(),
      AUTH_JWT_SECRET: SECRET,
    });
    expect((await fetch(`${gw.internalUrl}/healthz`)).status).toBe(200);
    expect(await json(await fetch(`${gw.internalUrl}/readyz`))).toEqual({ postgres: "up", valkey: "up" });
    // An open socket is closed with 1001 (going away) before the process exits.
    const customer = await anonymousCustomer(gw.publicUrl);
    const ws = new WebSocket(`${gw.publicUrl.replace("http", "ws")}/ws?access_token=${customer.accessToken}`);
    await new Promise((resolve) => ws.once("open", resolve));
    const closeCode = new Promise<number>((resolve) => ws.once("close", resolve));
    const { code, ms } = await gw.stop("SIGTERM");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    expect(await closeCode).toBe(1001);
    expect(gw.output()).toContain('"msg":"stopped"');
  });

  it("still stops cleanly on SIGTERM after its log reader went away (EPIPE on stdout)", async () => {
    const gw = await spawnGateway({ DATABASE_URL: db.url, VALKEY_URL: valkey.url, AUTH_JWT_SECRET: SECRET });
    gw.child.stdout?.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const { code, ms } = await gw.stop("SIGTERM");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
  });

  it("the embedded Valkey does not outlive a service killed with SIGKILL", async () => {
    const gw = await spawnGateway({
      DATABASE_URL: db.url,
      AUTH_JWT_SECRET: SECRET,
      PATH: process.env.PATH ?? "",
    });
    const out = gw.output();
    expect(out).toContain("embedded valkey started");
    const valkeyPort = Number(/"port":(\d+),"binary"/.exec(out)?.[1]);
    expect(valkeyPort).toBeGreaterThan(0);
    expect(await portRefuses(valkeyPort)).toBe(false);
    await gw.stop("SIGKILL");
    // The watchdog looks once a second.
    await waitFor(() => portRefuses(valkeyPort), 5000, 100);
  });

  it("two processes starting at once against one empty database both come up", async () => {
    const fresh = await createTestDatabase({ empty: true });
    try {
      const env = { DATABASE_URL: fresh.url, VALKEY_URL: valkey.url, AUTH_JWT_SECRET: SECRET };
      const [a, b] = await Promise.all([spawnGateway(env), spawnGateway(env)]);
      for (const gw of [a, b]) expect((await fetch(`${gw.internalUrl}/readyz`)).status).toBe(200);
      expect((await a.stop()).code).toBe(0);
      expect((await b.stop()).code).toBe(0);
    } finally {
      await fresh.drop();
    }
  });

  it("runs in Postgres-only mode, with one warning, when no Valkey is configured or on PATH", async () => {
    const gw = await spawnGateway({ DATABASE_URL: db.url, AUTH_JWT_SECRET: SECRET, PATH: "/nonexistent" });
    const body = await json(await fetch(`${gw.internalUrl}/readyz`));
    expect(body).toEqual({ postgres: "up", valkey: "down", mode: "postgres-only" });
    const warnings = gw
      .output()
      .split("\n")
      .filter((l) => l.includes('"level":40') && l.includes("Postgres-only mode"));
    expect(warnings).toHaveLength(1);
    expect((await gw.stop()).code).toBe(0);
  });

  it("with no environment at all, runs on an embedded Postgres and an embedded Valkey, and stops them", async () => {
    await embeddedRoundTrip();
  }, 120_000);

  it("the embedded default also works for a non-root user", async () => {
    // As root, run it as the unprivileged `postgres` user; as a normal user, this already is the case.
    const isRoot = process.getuid?.() === 0;
    const uid = (flag: string) => Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
    await embeddedRoundTrip(isRoot ? { uid: uid("-u"), gid: uid("-g") } : undefined);
  }, 120_000);

  it("as root, names the folder that the postgres user cannot enter instead of failing inside initdb", () => {
    const outer = mkdtempSync(join(tmpdir(), "halo-closed-"));
    try {
      chmodSync(outer, 0o700);
      const expected = process.getuid?.() === 0 ? outer : null;
      expect(untraversableAncestor(join(outer, "inner", ".data"))).toBe(expected);
    } finally {
      rmSync(outer, { recursive: true, force: true });
    }
  });
});

async function embeddedRoundTrip(as?: { uid: number; gid: number }): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), "halo-embedded-"));
  // mkdtemp makes it 0700; the postgres user must be able to pass through it.
  chmodSync(dataDir, 0o755);
  if (as) execFileSync("chown", [`${as.uid}:${as.gid}`, dataDir]);
  try {
    const gw = await spawnGateway(
      { DATA_DIR: join(dataDir, "data"), PATH: process.env.PATH ?? "" },
      90_000,
      as,
    );
    expect(await json(await fetch(`${gw.internalUrl}/readyz`))).toEqual({ postgres: "up", valkey: "up" });
    const out = gw.output();
    expect(out).toContain("embedded Postgres started");
    expect(out).toContain("embedded valkey started");
    const pgPort = Number(/"port":(\d+),"dataDir"/.exec(out)?.[1]);
    const { code, ms } = await gw.stop("SIGTERM");
    expect(code).toBe(0);
    expect(ms).toBeLessThan(10_000);
    // The embedded Postgres went down with the service.
    expect(await portRefuses(pgPort)).toBe(true);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function portRefuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.on("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.on("error", () => resolve(true));
  });
}
