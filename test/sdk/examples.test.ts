import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { TEST_VALKEY_ENV } from "../support/env.js";
import { type SpawnedGateway, spawnGateway, TEST_JWT_SECRET, waitFor } from "../support/gateway.js";
import { newMitraPhone } from "../support/people.js";
import { QUIET_SWEEPS } from "../support/setup.js";
import { testPrefix } from "../support/valkey.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

let db: TestDatabase;
let gw: SpawnedGateway;
const children: ChildProcess[] = [];

beforeAll(async () => {
  // The examples import the built package, as an app would (`npm test` builds it first; a run of
  // this file alone builds it when the sources are newer).
  if (builtBefore(`${ROOT}packages/client/src`, `${ROOT}packages/client/dist/node.js`))
    execFileSync("npm", ["run", "build", "-w", "@halo/client"], { cwd: ROOT, stdio: "ignore" });
  db = await createTestDatabase();
  gw = await spawnGateway({
    DATABASE_URL: db.url,
    ...TEST_VALKEY_ENV,
    VALKEY_KEY_PREFIX: testPrefix(),
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    ENABLE_TEST_ROUTES: "true",
    ...QUIET_SWEEPS,
  });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await gw?.stop("SIGTERM");
  await db?.drop();
});

function builtBefore(srcDir: string, built: string): boolean {
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return readdirSync(srcDir).some((f) => statSync(`${srcDir}/${f}`).mtimeMs > builtAt);
}

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function runExample(name: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, [`examples/${name}.mjs`], {
    cwd: ROOT,
    env: { ...process.env, HALO_URL: gw.publicUrl, HALO_INTERNAL_URL: gw.internalUrl, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe("the examples", () => {
  it("a mitra goes online and heartbeats; a customer pairs with it, pays, chats and ends; both exit 0", async () => {
    const mitra = runExample("mitra", { MITRA_PHONE: newMitraPhone(), EXAMPLE_EXIT_AFTER_SESSION: "1" });
    await waitFor(() => mitra.output().includes("online; heartbeating"), 20_000);
    const customer = runExample("customer", {});
    const code = await Promise.race([
      customer.exited,
      new Promise((r) => setTimeout(() => r("timeout"), 30_000)),
    ]);
    expect(code, customer.output()).toBe(0);
    const said = customer.output();
    expect(said).toMatch(/matched with Example Mitra/);
    expect(said).toMatch(/paid; the session runs until/);
    expect(said).toMatch(/mitra: You said "Halo!"/);
    expect(said).toMatch(/mitra: You said "Terima kasih, bye."/);
    expect(said).toMatch(/session ended \(ENDED_BY_CUSTOMER\)/);
    expect(await mitra.exited, mitra.output()).toBe(0);
    expect(mitra.output()).toMatch(/accepted: session/);
  }, 60_000);
});
