/**
 * Baseline for the heartbeat window: the naive heartbeat route the issue
 * compares against. A bare uWebSockets.js app whose
 * POST /api/mitra/status/heartbeat does, per request and awaited in turn:
 *
 *   1. jsonwebtoken HS256 verify of the Bearer (the gateway's library, key as
 *      a KeyObject like the gateway's, HS256 pinned, `typ` must be "mitra");
 *   2. one SISMEMBER of the mitra on the deactivated set (403 if a member);
 *   3. one SET of the heartbeat key to the current ISO-8601 time;
 *
 * then answers 204. ioredis with its defaults (no auto-pipelining), one
 * connection. No router, no zod, no batching across requests, no Postgres,
 * and by default no revocation check. With `?check-revocation=1` it also
 * does what the gateway does between 1 and 2: one EXISTS of
 * `auth:revoked:<sid>` (401 if set), awaited — the like-for-like variant.
 *
 * GET /stats answers {cpuUs} (process.cpuUsage, all threads).
 *
 *   VALKEY_URL=redis://… VALKEY_KEY_PREFIX=… AUTH_JWT_SECRET=… node bench/baselines/naive-heartbeat.mjs
 */

import uWS from "uWebSockets.js";
import { createSecretKey } from "node:crypto";
import Redis from "ioredis";
import jwt from "jsonwebtoken";

const secret = process.env.AUTH_JWT_SECRET ?? "bench-secret-bench-secret-bench-secret-0";
// A KeyObject, as the gateway passes it (jsonwebtoken parses a Buffer key as PEM on every call).
const key = createSecretKey(Buffer.from(secret, "utf8"));
const prefix = process.env.VALKEY_KEY_PREFIX ?? "";
// The gateway's standalone key names (src/valkey/keys.ts), written out by hand as a naive server would.
const deactivatedKey = `${prefix}mitras:deactivated`;
const heartbeatKey = (id) => `${prefix}mitra:heartbeat:${id}`;
const revokedKey = (sid) => `${prefix}auth:revoked:${sid}`;

const redis = new Redis(process.env.VALKEY_URL ?? "redis://127.0.0.1:6379");
await new Promise((resolve, reject) => {
  redis.once("ready", resolve);
  redis.once("error", reject);
});

function respond(res, state, status) {
  if (state.aborted) return;
  res.cork(() => {
    res.writeStatus(status).end();
  });
}

uWS
  .App()
  .post("/api/mitra/status/heartbeat", (res, req) => {
    // HttpRequest is valid only synchronously: copy the header before anything async.
    const auth = req.getHeader("authorization");
    const checkRevocation = req.getQuery("check-revocation") === "1";
    const state = { aborted: false };
    res.onAborted(() => {
      state.aborted = true;
    });
    res.onData((_chunk, isLast) => {
      if (!isLast) return;
      void handle(auth, checkRevocation).then(
        (status) => respond(res, state, status),
        () => respond(res, state, "500 Internal Server Error"),
      );
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

async function handle(auth, checkRevocation) {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
  if (!m) return "401 Unauthorized";
  let claims;
  try {
    claims = jwt.verify(m[1], key, { algorithms: ["HS256"] });
  } catch {
    return "401 Unauthorized";
  }
  if (claims.typ !== "mitra" || typeof claims.sub !== "string") return "403 Forbidden";
  if (checkRevocation && (await redis.exists(revokedKey(claims.sid))) === 1) return "401 Unauthorized";
  if ((await redis.sismember(deactivatedKey, claims.sub)) === 1) return "403 Forbidden";
  await redis.set(heartbeatKey(claims.sub), new Date().toISOString());
  return "204 No Content";
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    redis.disconnect();
    process.exit(0);
  });
}
