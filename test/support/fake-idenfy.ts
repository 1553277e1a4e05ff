import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A local iDenfy speaking the documented KYC API (documentation.idenfy.com:
 * /kyc/generate-token, /kyc/data-retrieval, /kyc/webhooks,
 * /security/callback-signing, /kyc/id-error-messages), with knobs for the
 * faults a real one shows: errors, slowness, silence, malformed answers.
 */

/** Every documented overall status (/resources/vocabulary). */
export type IdenfyOverall =
  | "APPROVED"
  | "DENIED"
  | "SUSPECTED"
  | "REVIEWING"
  | "ACTIVE"
  | "EXPIRED"
  | "EXPIRED-DELETED"
  | "DELETED"
  | "ARCHIVED";

/** The check fields of a status answer and of a webhook's `status` object. */
export interface IdenfyChecks {
  fraudTags?: string[];
  mismatchTags?: string[];
  autoDocument?: string | null;
  autoFace?: string | null;
  manualDocument?: string | null;
  manualFace?: string | null;
  /** Top-level `final` of the answer or webhook (status answers carry it only when set here). */
  final?: boolean;
}

export interface FakeIdenfySession {
  scanRef: string;
  clientId: string;
  authToken: string;
  status: IdenfyOverall;
  checks: IdenfyChecks;
}

/**
 * Answers a real iDenfy never should give: a 200 that is not JSON, JSON
 * without the documented fields, or (status API only; a token call answers
 * normally) an overall status the docs do not list.
 */
export type Malformed = "not-json" | "wrong-shape" | "unknown-status";

/** What the checks look like when a test does not say: a plausible result for each overall status. */
function defaultChecks(overall: IdenfyOverall): IdenfyChecks {
  const none = { fraudTags: [], mismatchTags: [], manualDocument: null, manualFace: null };
  switch (overall) {
    case "APPROVED":
      return { ...none, autoDocument: "DOC_VALIDATED", autoFace: "FACE_MATCH" };
    case "DENIED":
      return { ...none, autoDocument: "DOC_VALIDATED", autoFace: "FACE_MISMATCH" };
    case "SUSPECTED":
      return { ...none, autoDocument: "DOC_VALIDATED", autoFace: "FACE_MATCH", mismatchTags: ["NAME"] };
    default:
      return { ...none, autoDocument: null, autoFace: null };
  }
}

/** Hex HMAC-SHA256 of the raw body with the signing key: the `Idenfy-Signature` header. */
export function signIdenfyWebhook(rawBody: string | Uint8Array, secret: string): string {
  return createHmac("sha256", secret).update(rawBody).digest("hex");
}

/** A verification-result webhook body shaped as kyc.yaml's IdentificationWebhook. */
export function idenfyWebhookBody(
  scanRef: string,
  overall: IdenfyOverall,
  opts: IdenfyChecks & { clientId?: string } = {},
): Record<string, unknown> {
  const { final = true, clientId = "client-1", ...given } = opts;
  const checks = { ...defaultChecks(overall), ...given };
  const startTime = Math.floor(Date.now() / 1000) - 120;
  return {
    final,
    platform: "MOBILE_APP",
    status: {
      overall,
      fraudTags: checks.fraudTags ?? [],
      mismatchTags: checks.mismatchTags ?? [],
      autoFace: checks.autoFace ?? null,
      manualFace: checks.manualFace ?? null,
      autoDocument: checks.autoDocument ?? null,
      manualDocument: checks.manualDocument ?? null,
      additionalSteps: null,
    },
    data: {
      docFirstName: "BUDI",
      docLastName: "SANTOSO",
      docNumber: "X1234567",
      docPersonalCode: null,
      docExpiry: "2031-01-01",
      docDob: "1990-05-15",
      docDateOfIssue: "2021-01-01",
      docType: "ID_CARD",
      docSex: "MALE",
      docNationality: "ID",
      docIssuingCountry: "ID",
      manuallyDataChanged: false,
      fullName: "BUDI SANTOSO",
      selectedCountry: "ID",
      ageEstimate: "OVER_25",
      clientIpProxyRiskLevel: "VERY_LOW",
      duplicateFaces: [],
      duplicateDocFaces: [],
    },
    fileUrls: {},
    AML: null,
    LID: null,
    scanRef,
    externalRef: null,
    clientId,
    startTime,
    finishTime: startTime + 90,
    clientIp: "203.0.113.7",
    clientIpCountry: "ID",
    clientLocation: "Jakarta, Indonesia",
  };
}

/** A webhook as iDenfy sends it: the raw body and its headers, signed with `secret`. */
export function signedIdenfyWebhook(
  secret: string,
  scanRef: string,
  overall: IdenfyOverall,
  opts: IdenfyChecks & { clientId?: string } = {},
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify(idenfyWebhookBody(scanRef, overall, opts));
  return {
    body,
    headers: { "content-type": "application/json", "Idenfy-Signature": signIdenfyWebhook(body, secret) },
  };
}

export class FakeIdenfy {
  url = "";
  /** Every answer waits this long first. */
  latencyMs = 0;
  /** Never answer (the connection stays open until stop()). */
  hang = false;
  /** Whether token answers carry `redirectUrl` (documented as nullable). */
  redirectUrlInAnswer = true;
  tokenCalls = 0;
  statusCalls = 0;
  readonly sessions = new Map<string, FakeIdenfySession>();
  /** The last Authorization header and token request body seen. */
  lastAuthorization: string | undefined;
  lastTokenBody: Record<string, unknown> | undefined;

  private server: Server | undefined;
  private readonly statusCallsBy = new Map<string, number>();
  private failures: number[] = [];
  private malformed: Malformed[] = [];
  private expiring = 0;

  constructor(
    readonly apiKey = "fake-api-key",
    readonly apiSecret = "fake-api-secret",
  ) {}

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forgets every session, knob and counter. */
  reset(): void {
    Object.assign(this, {
      latencyMs: 0,
      hang: false,
      redirectUrlInAnswer: true,
      tokenCalls: 0,
      statusCalls: 0,
    });
    this.lastAuthorization = undefined;
    this.lastTokenBody = undefined;
    this.sessions.clear();
    this.statusCallsBy.clear();
    this.failures = [];
    this.malformed = [];
    this.expiring = 0;
  }

  /** The next `n` requests (either API) answer `statusCode` with a documented error body. */
  failNext(n: number, statusCode = 500): void {
    for (let i = 0; i < n; i++) this.failures.push(statusCode);
  }

  /** The next `n` requests (either API) answer 2xx with a malformed body. */
  malformNext(kind: Malformed, n = 1): void {
    for (let i = 0; i < n; i++) this.malformed.push(kind);
  }

  /** The next `n` minted tokens are EXPIRED from the start. */
  expireNext(n = 1): void {
    this.expiring += n;
  }

  /** What the status API (and fake.webhook) will say of a scanRef from now on. */
  setStatus(scanRef: string, status: IdenfyOverall, checks?: IdenfyChecks): void {
    const s = this.sessions.get(scanRef) ?? { scanRef, clientId: "unknown", authToken: "", checks: {} };
    this.sessions.set(scanRef, { ...s, status, checks: checks ?? defaultChecks(status) });
  }

  /** Status API calls for one scanRef. */
  statusCallsFor(scanRef: string): number {
    return this.statusCallsBy.get(scanRef) ?? 0;
  }

  /** A signed webhook for a session this fake minted, saying its current status (or `overall`). */
  webhook(
    secret: string,
    scanRef: string,
    overall?: IdenfyOverall,
    opts: IdenfyChecks = {},
  ): { body: string; headers: Record<string, string> } {
    const s = this.sessions.get(scanRef);
    const status = overall ?? s?.status ?? "APPROVED";
    const checks = overall ? opts : { ...s?.checks, ...opts };
    return signedIdenfyWebhook(secret, scanRef, status, { clientId: s?.clientId ?? "client-1", ...checks });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const route = req.method === "POST" ? req.url : undefined;
    if (route === "/api/v2/token") this.tokenCalls++;
    else if (route === "/api/v2/status") this.statusCalls++;
    else return send(res, 405, { identifier: "METHOD_NOT_ALLOWED", message: "Unknown endpoint" });

    if (this.hang) return; // the client's timeout is what ends this
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const failure = this.failures.shift();
    if (failure !== undefined) {
      return send(res, failure, { identifier: "INTERNAL_ERROR", message: "Injected failure" });
    }

    this.lastAuthorization = req.headers.authorization;
    const expected = `Basic ${Buffer.from(`${this.apiKey}:${this.apiSecret}`).toString("base64")}`;
    if (req.headers.authorization !== expected) {
      return send(res, 401, { identifier: "UNAUTHORIZED", message: "Invalid API key or secret" });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return send(res, 400, { identifier: "JSON_ERROR", message: "Body is not valid JSON" });
    }

    const bad = this.malformed.shift();
    if (bad === "not-json") return sendRaw(res, 200, "text/html", "<html><body>Bad gateway</body></html>");
    if (bad === "wrong-shape") return send(res, 200, { result: "ok", data: [1, 2, 3] });
    if (route === "/api/v2/token") return this.token(res, body);
    return this.status(res, body, bad);
  }

  private token(res: ServerResponse, body: Record<string, unknown>): void {
    this.lastTokenBody = body;
    const clientId = body.clientId;
    if (typeof clientId !== "string" || clientId === "") {
      return send(res, 400, { identifier: "MISSING_VALUE", message: "clientId is required" });
    }
    const scanRef = randomUUID();
    const authToken = randomBytes(20).toString("base64url");
    let status: IdenfyOverall = "ACTIVE";
    if (this.expiring > 0) {
      this.expiring--;
      status = "EXPIRED";
    }
    this.sessions.set(scanRef, { scanRef, clientId, authToken, status, checks: defaultChecks(status) });
    const expiryTime = typeof body.expiryTime === "number" ? body.expiryTime : 3600;
    send(res, 201, {
      message: "Token created successfully",
      authToken,
      scanRef,
      clientId,
      redirectUrl: this.redirectUrlInAnswer ? `${this.url}/api/v2/redirect?authToken=${authToken}` : null,
      expiryTime,
      sessionLength: 600,
      tokenType: body.tokenType ?? "IDENTIFICATION",
      digitString: null,
    });
  }

  private status(res: ServerResponse, body: Record<string, unknown>, bad: Malformed | undefined): void {
    const scanRef = body.scanRef;
    if (typeof scanRef !== "string" || scanRef === "") {
      return send(res, 400, { identifier: "MISSING_VALUE", message: "scanRef is required" });
    }
    this.statusCallsBy.set(scanRef, this.statusCallsFor(scanRef) + 1);
    const s = this.sessions.get(scanRef);
    if (!s) return send(res, 404, { identifier: "NOT_FOUND", message: "Verification not found" });
    const { final, ...checks } = s.checks;
    send(res, 200, {
      fraudTags: [],
      mismatchTags: [],
      autoDocument: null,
      autoFace: null,
      manualDocument: null,
      manualFace: null,
      ...checks,
      ...(final === undefined ? {} : { final }),
      scanRef,
      clientId: s.clientId,
      status: bad === "unknown-status" ? "MYSTERY" : s.status,
    });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  sendRaw(res, status, "application/json", JSON.stringify(body));
}

function sendRaw(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}
