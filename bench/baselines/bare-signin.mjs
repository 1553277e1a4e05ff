/**
 * Baseline for the sign-in and refresh windows: the least any sign-in must
 * do. A bare uWebSockets.js app with a pg Pool (max 10, as the gateway's)
 * whose POST /signin makes one INSERT (autocommit) into a scratch table and
 * signs one HS256 access token with jsonwebtoken (the gateway's JWT library,
 * keyed the same way, same claims). No validation framework, no router, no
 * transaction, no session row, no refresh token.
 *
 * GET /stats answers {cpuUs} (process.cpuUsage, all threads).
 *
 *   DATABASE_URL=postgres://… AUTH_JWT_SECRET=… node bench/baselines/bare-signin.mjs
 */

import uWS from "uWebSockets.js";
import { createSecretKey, randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import pg from "pg";

// A KeyObject, as the gateway passes it (jsonwebtoken parses a Buffer key as PEM on every call).
const key = createSecretKey(
  Buffer.from(process.env.AUTH_JWT_SECRET ?? "bench-secret-bench-secret-bench-secret-0", "utf8"),
);
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
await pool.query(`CREATE TABLE IF NOT EXISTS bench_bare_signin (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name text,
  created_at timestamptz NOT NULL DEFAULT now()
)`);

function readBody(res, cb) {
  let chunks = [];
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (isLast) cb(Buffer.concat(chunks).toString());
    if (isLast) chunks = [];
  });
}

uWS
  .App()
  .post("/signin", (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    readBody(res, async (raw) => {
      let status = "201 Created";
      let payload;
      try {
        const body = raw ? JSON.parse(raw) : {};
        const { rows } = await pool.query(
          "INSERT INTO bench_bare_signin (display_name) VALUES ($1) RETURNING id",
          [typeof body.displayName === "string" ? body.displayName : null],
        );
        const iat = Math.floor(Date.now() / 1000);
        const id = rows[0].id;
        const accessToken = jwt.sign(
          { sub: id, typ: "customer", sid: randomUUID(), iat, exp: iat + 3600 },
          key,
          {
            algorithm: "HS256",
          },
        );
        payload = { accessToken, expiresIn: 3600, user: { id, type: "customer" } };
      } catch (err) {
        status = "500 Internal Server Error";
        payload = { error: String(err.message ?? err) };
      }
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(status).writeHeader("content-type", "application/json").end(JSON.stringify(payload));
      });
    });
  })
  .get("/stats", (res) => {
    const cpu = process.cpuUsage();
    res.writeHeader("content-type", "application/json").end(JSON.stringify({ cpuUs: cpu.user + cpu.system }));
  })
  .listen("127.0.0.1", Number(process.env.PORT ?? 0), (token) => {
    if (!token) {
      process.stderr.write("cannot listen\n");
      process.exit(1);
    }
    process.stdout.write(`${JSON.stringify({ listening: true, port: uWS.us_socket_local_port(token) })}\n`);
  });

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await pool.end().catch(() => {});
    process.exit(0);
  });
}
