import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jwtVerify } from "jose";

/**
 * A local FCM: the OAuth2 token endpoint (JWT bearer grant, checked against
 * the public key of the service account it made) and HTTP v1
 * `messages:send` (checks the Bearer token, records each accepted message),
 * with knobs for the answers a real one gives: 404 UNREGISTERED, 400 on a
 * bad token or message, 429 with Retry-After, 503, latency and a stall.
 */

/** Spelled out here, not imported from src: the fake is the oracle the provider is checked against. */
const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";

export interface FcmSentMessage {
  projectId: string;
  token: string;
  data: Record<string, string>;
  /** The whole `message` object as sent. */
  message: Record<string, unknown>;
}

/** One scripted answer of `messages:send`, in FCM's documented error shapes. */
export type FcmFault =
  | { kind: "unregistered" }
  | { kind: "invalid-token" }
  | { kind: "bad-request" }
  | { kind: "unauthenticated" }
  | { kind: "quota"; retryAfter?: string }
  | { kind: "unavailable"; retryAfter?: string };

export class FakeFcm {
  url = "";
  readonly projectId: string;
  /** `expires_in` of the access tokens handed out. */
  tokenLifetimeSeconds = 3600;
  /** Every messages:send answer waits this long first. */
  latencyMs = 0;
  tokenRequests = 0;
  /** messages:send requests with a valid token, whatever they were answered. */
  sendRequests = 0;
  /** Accepted (200) messages, in order. */
  readonly messages: FcmSentMessage[] = [];
  /** Why the last request was refused, for a test's failure message. */
  lastRefusal: string | undefined;

  private server: Server | undefined;
  private readonly keys = new Map<string, KeyObject>();
  private readonly accessTokens = new Set<string>();
  private faults: FcmFault[] = [];
  private tokenFailures: number[] = [];
  private stalled: (() => void)[] | undefined;

  constructor(projectId = "halo-test") {
    this.projectId = projectId;
  }

  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  async start(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.release();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Forgets knobs, counters, messages and issued access tokens (service accounts stay valid). */
  reset(): void {
    this.release();
    this.tokenLifetimeSeconds = 3600;
    this.latencyMs = 0;
    this.tokenRequests = 0;
    this.sendRequests = 0;
    this.messages.length = 0;
    this.lastRefusal = undefined;
    this.accessTokens.clear();
    this.faults = [];
    this.tokenFailures = [];
  }

  /**
   * Writes a service-account JSON file (a fresh RSA key, `token_uri` this
   * fake) to `dir` (default: a new temp folder) and trusts its key.
   */
  async writeServiceAccountFile(dir?: string): Promise<string> {
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const clientEmail = `push-${randomBytes(4).toString("hex")}@${this.projectId}.iam.gserviceaccount.com`;
    this.keys.set(clientEmail, publicKey);
    const file = join(dir ?? (await mkdtemp(join(tmpdir(), "fake-fcm-"))), "service-account.json");
    const account = {
      type: "service_account",
      project_id: this.projectId,
      private_key_id: randomBytes(20).toString("hex"),
      private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      client_email: clientEmail,
      client_id: "100000000000000000000",
      auth_uri: "https://accounts.google.com/o/oauth2/auth",
      token_uri: this.tokenUrl,
    };
    await writeFile(file, JSON.stringify(account, null, 2), { mode: 0o600 });
    return file;
  }

  /** The next `n` messages:send requests answer with `fault`. */
  failNext(n: number, fault: FcmFault): void {
    for (let i = 0; i < n; i++) this.faults.push(fault);
  }

  /** The next `n` token requests answer `status` (OAuth2 error body). */
  failTokens(n: number, status: number): void {
    for (let i = 0; i < n; i++) this.tokenFailures.push(status);
  }

  /** Every access token handed out so far stops working (the next send gets 401). */
  revokeAccessTokens(): void {
    this.accessTokens.clear();
  }

  /** Holds every messages:send answer from now until release(). */
  stall(): void {
    this.stalled ??= [];
  }

  /** Answers the held requests and stops holding. */
  release(): void {
    const held = this.stalled ?? [];
    this.stalled = undefined;
    for (const go of held) go();
  }

  /** How many messages:send requests are held by stall(). */
  get heldCount(): number {
    return this.stalled?.length ?? 0;
  }

  messagesTo(token: string): FcmSentMessage[] {
    return this.messages.filter((m) => m.token === token);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const body = await readBody(req);
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (req.method === "POST" && path === "/token") return await this.token(body, res);
      const send = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
      if (req.method === "POST" && send?.[1]) {
        return await this.send(decodeURIComponent(send[1]), req, body, res);
      }
      googleError(res, 404, "NOT_FOUND", "Requested entity was not found.");
    } catch (err) {
      if (!res.headersSent) googleError(res, 500, "INTERNAL", (err as Error).message);
    }
  }

  private async token(body: string, res: ServerResponse): Promise<void> {
    this.tokenRequests++;
    const failure = this.tokenFailures.shift();
    if (failure !== undefined)
      return json(res, failure, { error: failure >= 500 ? "server_error" : "invalid_grant" });
    const form = new URLSearchParams(body);
    if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      return this.refuseToken(res, "unsupported_grant_type", "grant_type is not jwt-bearer");
    }
    const assertion = form.get("assertion") ?? "";
    let iss: unknown;
    try {
      iss = JSON.parse(Buffer.from(assertion.split(".")[1] ?? "", "base64url").toString()).iss;
    } catch {
      return this.refuseToken(res, "invalid_grant", "assertion is not a JWT");
    }
    const key = typeof iss === "string" ? this.keys.get(iss) : undefined;
    if (!key) return this.refuseToken(res, "invalid_grant", `unknown issuer ${String(iss)}`);
    try {
      const { payload } = await jwtVerify(assertion, key, {
        algorithms: ["RS256"],
        audience: this.tokenUrl,
        issuer: iss as string,
        requiredClaims: ["iat", "exp"],
      });
      if (typeof payload.scope !== "string" || !payload.scope.split(" ").includes(FCM_SCOPE)) {
        return this.refuseToken(res, "invalid_scope", "scope lacks firebase.messaging");
      }
      if ((payload.exp ?? 0) - (payload.iat ?? 0) > 3600) {
        return this.refuseToken(res, "invalid_grant", "assertion lives longer than an hour");
      }
    } catch (err) {
      return this.refuseToken(res, "invalid_grant", `assertion refused: ${(err as Error).message}`);
    }
    const accessToken = `ya29.fake-${randomBytes(16).toString("hex")}`;
    this.accessTokens.add(accessToken);
    json(res, 200, {
      access_token: accessToken,
      expires_in: this.tokenLifetimeSeconds,
      token_type: "Bearer",
    });
  }

  private refuseToken(res: ServerResponse, error: string, description: string): void {
    this.lastRefusal = description;
    json(res, 400, { error, error_description: description });
  }

  private async send(
    projectId: string,
    req: IncomingMessage,
    body: string,
    res: ServerResponse,
  ): Promise<void> {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!bearer || !this.accessTokens.has(bearer)) {
      this.lastRefusal = "missing or unknown Bearer token";
      return googleError(res, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
    }
    this.sendRequests++;
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    if (this.stalled) await new Promise<void>((r) => this.stalled?.push(r) ?? r());
    if (res.destroyed) return;
    const fault = this.faults.shift();
    if (fault) return answerFault(res, fault);
    let message: Record<string, unknown>;
    try {
      message = (JSON.parse(body) as { message: Record<string, unknown> }).message;
    } catch {
      return googleError(res, 400, "INVALID_ARGUMENT", "Invalid JSON payload received.");
    }
    const token = message?.token;
    const data = message?.data ?? {};
    if (typeof token !== "string" || token === "") {
      return invalidToken(res);
    }
    // FCM refuses a data map with any value that is not a string.
    if (typeof data !== "object" || Object.values(data).some((v) => typeof v !== "string")) {
      return googleError(res, 400, "INVALID_ARGUMENT", "Invalid value at 'message.data'", [
        badRequest("message.data", "Invalid value"),
      ]);
    }
    this.messages.push({ projectId, token, data: data as Record<string, string>, message });
    json(res, 200, { name: `projects/${projectId}/messages/${randomUUID()}` });
  }
}

function answerFault(res: ServerResponse, fault: FcmFault): void {
  switch (fault.kind) {
    case "unregistered":
      return googleError(res, 404, "NOT_FOUND", "Requested entity was not found.", [
        fcmError("UNREGISTERED"),
      ]);
    case "invalid-token":
      return invalidToken(res);
    case "bad-request":
      return googleError(res, 400, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'", [
        fcmError("INVALID_ARGUMENT"),
        badRequest("message.android.ttl", "Invalid value"),
      ]);
    case "unauthenticated":
      return googleError(res, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials.");
    case "quota":
      return googleError(
        res,
        429,
        "RESOURCE_EXHAUSTED",
        "Quota exceeded.",
        [fcmError("QUOTA_EXCEEDED")],
        fault.retryAfter,
      );
    case "unavailable":
      return googleError(
        res,
        503,
        "UNAVAILABLE",
        "The service is currently unavailable.",
        [fcmError("UNAVAILABLE")],
        fault.retryAfter,
      );
  }
}

function invalidToken(res: ServerResponse): void {
  googleError(res, 400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token", [
    fcmError("INVALID_ARGUMENT"),
    badRequest("message.token", "The registration token is not a valid FCM registration token"),
  ]);
}

const fcmError = (errorCode: string): Record<string, unknown> => ({
  "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
  errorCode,
});

const badRequest = (field: string, description: string): Record<string, unknown> => ({
  "@type": "type.googleapis.com/google.rpc.BadRequest",
  fieldViolations: [{ field, description }],
});

function googleError(
  res: ServerResponse,
  code: number,
  status: string,
  message: string,
  details: Record<string, unknown>[] = [],
  retryAfter?: string,
): void {
  json(
    res,
    code,
    { error: { code, message, status, details } },
    retryAfter ? { "retry-after": retryAfter } : {},
  );
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed) return;
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}
