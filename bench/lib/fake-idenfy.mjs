import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";

/**
 * A small iDenfy for the benches: the two endpoints the gateway calls
 * (POST /api/v2/token and POST /api/v2/status, HTTP Basic API_KEY:API_SECRET,
 * JSON in and out, as in test/support/fake-idenfy.ts) and nothing else, with
 * the knobs a bench needs: `latencyMs` (every answer waits this long) and the
 * counters `tokenCalls` and `statusCalls`. Every session it minted answers
 * ACTIVE (in progress) on the status API unless `setStatus` says otherwise.
 * It runs in the bench's own process; `stop()` closes it and every socket.
 */
export class FakeIdenfy {
  constructor({ apiKey = "bench-api-key", apiSecret = "bench-api-secret", latencyMs = 0 } = {}) {
    this.apiKey = apiKey;
    this.apiSecret = apiSecret;
    this.latencyMs = latencyMs;
    this.url = "";
    this.tokenCalls = 0;
    this.statusCalls = 0;
    this.refused = 0;
    /** scanRef → {clientId, authToken, status} */
    this.sessions = new Map();
    this.server = null;
    this.expected = `Basic ${Buffer.from(`${apiKey}:${apiSecret}`).toString("base64")}`;
  }

  async start() {
    const server = createServer((req, res) => void this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${server.address().port}`;
    return this;
  }

  async stop() {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(() => resolve()));
  }

  /** What the status API says of a scanRef from now on (an iDenfy overall status: ACTIVE, EXPIRED, …). */
  setStatus(scanRef, status) {
    const s = this.sessions.get(scanRef);
    if (s) s.status = status;
  }

  counters() {
    return { tokenCalls: this.tokenCalls, statusCalls: this.statusCalls, refused: this.refused };
  }

  async handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const route = req.method === "POST" ? req.url : undefined;
    if (route === "/api/v2/token") this.tokenCalls++;
    else if (route === "/api/v2/status") this.statusCalls++;
    else return send(res, 405, { identifier: "METHOD_NOT_ALLOWED", message: "Unknown endpoint" });
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (req.headers.authorization !== this.expected) {
      this.refused++;
      return send(res, 401, { identifier: "UNAUTHORIZED", message: "Invalid API key or secret" });
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      this.refused++;
      return send(res, 400, { identifier: "JSON_ERROR", message: "Body is not valid JSON" });
    }
    if (route === "/api/v2/token") {
      if (typeof body.clientId !== "string" || body.clientId === "") {
        this.refused++;
        return send(res, 400, { identifier: "MISSING_VALUE", message: "clientId is required" });
      }
      const scanRef = randomUUID();
      const authToken = randomBytes(20).toString("base64url");
      this.sessions.set(scanRef, { clientId: body.clientId, authToken, status: "ACTIVE" });
      return send(res, 201, {
        message: "Token created successfully",
        authToken,
        scanRef,
        clientId: body.clientId,
        redirectUrl: `${this.url}/api/v2/redirect?authToken=${authToken}`,
        expiryTime: typeof body.expiryTime === "number" ? body.expiryTime : 3600,
        sessionLength: 600,
        tokenType: body.tokenType ?? "IDENTIFICATION",
        digitString: null,
      });
    }
    const s = typeof body.scanRef === "string" ? this.sessions.get(body.scanRef) : undefined;
    if (!s) {
      this.refused++;
      return send(res, 404, { identifier: "NOT_FOUND", message: "Verification not found" });
    }
    send(res, 200, {
      fraudTags: [],
      mismatchTags: [],
      autoDocument: null,
      autoFace: null,
      manualDocument: null,
      manualFace: null,
      scanRef: body.scanRef,
      clientId: s.clientId,
      status: s.status,
    });
  }
}

/**
 * An iDenfy verification webhook (kyc.yaml's IdentificationWebhook, the
 * fields the gateway reads) saying `overall` for `scanRef`, signed as iDenfy
 * signs one: hex HMAC-SHA256 of the raw body in `Idenfy-Signature`.
 */
export function signedWebhook(secret, scanRef, overall, clientId) {
  const body = JSON.stringify({
    final: true,
    platform: "MOBILE_APP",
    status: {
      overall,
      fraudTags: [],
      mismatchTags: [],
      autoFace: null,
      manualFace: null,
      autoDocument: null,
      manualDocument: null,
      additionalSteps: null,
    },
    scanRef,
    externalRef: null,
    clientId,
  });
  return {
    body,
    headers: {
      "content-type": "application/json",
      "Idenfy-Signature": createHmac("sha256", secret).update(body).digest("hex"),
    },
  };
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
