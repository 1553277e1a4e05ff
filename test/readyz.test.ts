import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/db.js";
import { startTestGateway, type TestGateway, waitFor } from "./support/gateway.js";
import { json } from "./support/http.js";
import { OwnValkey } from "./support/valkey.js";

let db: TestDatabase;
let valkey: OwnValkey;
let gw: TestGateway;

beforeAll(async () => {
  db = await createTestDatabase();
  valkey = await OwnValkey.start();
  gw = await startTestGateway({ databaseUrl: db.url, valkeyUrl: valkey.url });
});
afterAll(async () => {
  await gw?.close();
  await valkey?.stop();
  await db?.drop();
});

const readyz = async (base: string) => {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: (await json(res)) as Record<string, string> };
};

describe("/healthz and /readyz", () => {
  it("serve on the internal listener only", async () => {
    expect((await fetch(`${gw.internalUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${gw.publicUrl}/healthz`)).status).toBe(404);
    expect((await fetch(`${gw.publicUrl}/readyz`)).status).toBe(404);
  });

  it("say valkey is down within 2 s of Valkey stopping, and up within 2 s of its return", async () => {
    expect(await readyz(gw.internalUrl)).toEqual({ status: 200, body: { postgres: "up", valkey: "up" } });

    await valkey.stop();
    const downMs = await waitFor(async () => (await readyz(gw.internalUrl)).body.valkey === "down", 5000);
    expect(downMs).toBeLessThan(2000);
    // Postgres still answers: the service stays ready, degraded.
    expect(await readyz(gw.internalUrl)).toEqual({ status: 200, body: { postgres: "up", valkey: "down" } });

    await valkey.startAgain();
    const upMs = await waitFor(async () => (await readyz(gw.internalUrl)).body.valkey === "up", 5000);
    expect(upMs).toBeLessThan(2000);
  });

  it("/metrics serves Prometheus text", async () => {
    const res = await fetch(`${gw.internalUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("halo_valkey_up 1");
    expect(text).toContain("halo_http_requests_total");
  });
});

describe("/readyz with Postgres unreachable", () => {
  it("answers 503 with postgres down", async () => {
    const dead = await startTestGateway({
      databaseUrl: "postgres://postgres@127.0.0.1:1/none",
      valkeyUrl: valkey.url,
    });
    try {
      const r = await readyz(dead.internalUrl);
      expect(r).toEqual({ status: 503, body: { postgres: "down", valkey: "up" } });
    } finally {
      await dead.close();
    }
  });
});
