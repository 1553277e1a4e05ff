import uWS from "uWebSockets.js";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { createPool } from "../src/db/pool.js";
import { parseBody } from "../src/http/json-body.js";
import { closeApp, listen } from "../src/http/listen.js";
import { Router } from "../src/http/router.js";
import { InFlight, MAX_BODY_BYTES, serveRouter } from "../src/http/serve.js";
import { silentLog } from "./support/gateway.js";
import { json } from "./support/http.js";

const deadPool = createPool("postgres://postgres@127.0.0.1:1/none");
let base = "";
let port = 0;
let slowFinished = 0;
const app = uWS.App();
let close = () => {};

beforeAll(async () => {
  const router = new Router()
    .post("/echo", (req) => ({ status: 200, body: parseBody(req, z.object({ name: z.string().max(50) })) }))
    .get("/items/:id", (req) => ({ status: 200, body: { id: req.params.id, q: req.query.get("q") } }))
    .get("/slow", async () => {
      await new Promise((r) => setTimeout(r, 300));
      slowFinished++;
      return { status: 200, body: { ok: true } };
    })
    .post("/slow-body", async (req) => {
      await new Promise((r) => setTimeout(r, 300));
      slowFinished++;
      return { status: 200, body: { bytes: req.body.length } };
    })
    .get("/boom", () => {
      throw new Error("secret internal detail");
    })
    .get("/db", async () => {
      await deadPool.query("SELECT 1");
      return { status: 200 };
    });
  serveRouter(app, router, { log: silentLog, trustProxy: false }, new InFlight());
  const l = await listen(app, "127.0.0.1", 0);
  port = l.port;
  base = `http://127.0.0.1:${port}`;
  close = () => {
    l.close();
    closeApp(app);
  };
});
afterAll(async () => {
  close();
  await deadPool.end();
});

/** Writes raw bytes on a fresh connection and returns what came back (or "" if closed first). */
function raw(data: string, opts: { destroyAfterMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let got = "";
    s.on("data", (d) => {
      got += d.toString();
    });
    s.on("error", () => resolve(got));
    s.on("close", () => resolve(got));
    s.write(data);
    if (opts.destroyAfterMs !== undefined) setTimeout(() => s.destroy(), opts.destroyAfterMs);
    else setTimeout(() => s.end(), 1500);
  });
}

describe("router (method + path parameters)", () => {
  it("matches parameters, prefers static routes and decodes escapes", () => {
    const h = () => ({ status: 200 });
    const r = new Router().get("/a/:id", h).get("/a/me", h).post("/a/:id/x", h);
    expect(r.match("GET", "/a/123")).toMatchObject({ kind: "found", params: { id: "123" } });
    expect(r.match("GET", "/a/me")).toMatchObject({ kind: "found", params: {} });
    expect(r.match("GET", "/a/x%20y")).toMatchObject({ kind: "found", params: { id: "x y" } });
    expect(r.match("GET", "/a/%E0%A4%A")).toEqual({ kind: "not-found" });
    expect(r.match("GET", "/a/1/x")).toEqual({ kind: "method-not-allowed", allowed: ["POST"] });
    expect(r.match("GET", "/a//x")).toEqual({ kind: "not-found" });
  });
});

describe("HTTP over uWebSockets.js", () => {
  it("answers an unknown route with the contract's JSON 404", async () => {
    const res = await fetch(`${base}/nowhere`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await json(res)).toEqual({ error: { code: "NOT_FOUND", message: expect.any(String) } });
  });

  it("answers a known path with another method with 405 and Allow", async () => {
    const res = await fetch(`${base}/echo`);
    expect(res.status).toBe(405);
    expect(res.headers.get("allow")).toBe("POST");
    expect((await json(res)).error.code).toBe("METHOD_NOT_ALLOWED");
  });

  it("passes path parameters and the query string", async () => {
    const res = await fetch(`${base}/items/abc?q=hello%20world`);
    expect(await json(res)).toEqual({ id: "abc", q: "hello world" });
  });

  it("answers a body that is not JSON with 400 VALIDATION_FAILED and issues", async () => {
    const res = await fetch(`${base}/echo`, { method: "POST", body: "{not json" });
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.error.code).toBe("VALIDATION_FAILED");
    expect(body.error.issues).toEqual([{ path: "", message: expect.any(String) }]);
  });

  it("names the failing field of a schema failure", async () => {
    const res = await fetch(`${base}/echo`, { method: "POST", body: JSON.stringify({ name: 42 }) });
    expect(res.status).toBe(400);
    expect((await json(res)).error.issues).toEqual([{ path: "name", message: expect.any(String) }]);
  });

  it("treats an empty body as {} (and validates that)", async () => {
    const res = await fetch(`${base}/echo`, { method: "POST" });
    expect(res.status).toBe(400);
    expect((await json(res)).error.issues[0].path).toBe("name");
  });

  it("refuses hostile JSON shapes (arrays, prototype keys, deep nesting) as validation failures", async () => {
    for (const body of [
      "[]",
      "null",
      '"x"',
      '{"__proto__":{"name":"x"}}',
      `${"[".repeat(5000)}${"]".repeat(5000)}`,
    ]) {
      const res = await fetch(`${base}/echo`, { method: "POST", body });
      expect(res.status).toBe(400);
      expect((await json(res)).error.code).toBe("VALIDATION_FAILED");
    }
  });

  it("answers a declared oversized body with 413 at once", async () => {
    const res = await fetch(`${base}/echo`, { method: "POST", body: "x".repeat(MAX_BODY_BYTES + 1) });
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("answers a chunked body that grows past 64 KiB with 413", async () => {
    const chunk = "a".repeat(16 * 1024);
    let req = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (let i = 0; i < 6; i++) req += `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    req += "0\r\n\r\n";
    const answer = await raw(req);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain("PAYLOAD_TOO_LARGE");
  });

  it("accepts a body of exactly 64 KiB", async () => {
    const name = "n".repeat(10);
    const padding = " ".repeat(MAX_BODY_BYTES - JSON.stringify({ name }).length);
    const res = await fetch(`${base}/echo`, {
      method: "POST",
      body: `${JSON.stringify({ name })}${padding}`,
    });
    expect(res.status).toBe(200);
  });

  it("survives requests aborted mid-body and mid-handler, and keeps serving", async () => {
    const before = slowFinished;
    await raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"na', { destroyAfterMs: 50 });
    await raw("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n", { destroyAfterMs: 50 });
    await raw("POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", { destroyAfterMs: 50 });
    await new Promise((r) => setTimeout(r, 500));
    // The handlers ran to the end without writing to the aborted responses (a write would crash uWS).
    expect(slowFinished).toBe(before + 2);
    const res = await fetch(`${base}/items/still-alive`);
    expect(res.status).toBe(200);
  });

  it("hides an unexpected error behind 500 INTERNAL, with no stack or detail", async () => {
    const res = await fetch(`${base}/boom`);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: { code: "INTERNAL", message: "Internal error" } });
    expect(text).not.toContain("secret internal detail");
  });

  it("answers 503 DEPENDENCY_UNAVAILABLE when Postgres is down", async () => {
    const res = await fetch(`${base}/db`);
    expect(res.status).toBe(503);
    // When to ask again, so clients come back within a second or two of Postgres (not their own backoff's 5 s).
    expect(res.headers.get("retry-after")).toBe("1");
    expect((await json(res)).error).toEqual({
      code: "DEPENDENCY_UNAVAILABLE",
      message: "Postgres is unavailable",
      retryAfterSeconds: 1,
    });
  });

  it("echoes a sane X-Request-Id and replaces a hostile one", async () => {
    const ok = await fetch(`${base}/items/1`, { headers: { "x-request-id": "abc-123" } });
    expect(ok.headers.get("x-request-id")).toBe("abc-123");
    const bad = await fetch(`${base}/items/1`, { headers: { "x-request-id": "<script>" } });
    expect(bad.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});
