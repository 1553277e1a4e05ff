import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { type Clock, systemClock } from "../clock.js";
import { issuesFromZod, validationFailed } from "../errors.js";
import { errorCodeIn, isTimeout, socketErrorCode } from "../outbound-http.js";
import {
  ProviderError,
  type ProviderEvent,
  type ProviderSession,
  type ProviderVerdict,
  type VerificationProvider,
  type VerificationStatus,
} from "./provider.js";

/*
 * iDenfy's KYC API as documented at documentation.idenfy.com:
 * - token:   POST /api/v2/token, HTTP Basic API_KEY:API_SECRET, {clientId, tokenType, expiryTime}
 *            → 201 {authToken, scanRef, redirectUrl?, expiryTime, …}   (/kyc/generate-token, /openapi/kyc.yaml)
 * - status:  POST /api/v2/status {scanRef} → {status, fraudTags, mismatchTags, autoDocument, autoFace,
 *            manualDocument, manualFace, scanRef, clientId}             (/kyc/data-retrieval)
 * - webhook: IdentificationWebhook {final, status: {overall, fraudTags, mismatchTags, …}, scanRef, …},
 *            HMAC-SHA256 hex of the raw body in `Idenfy-Signature`     (/kyc/webhooks, /security/callback-signing)
 * - errors:  {identifier, message}                                      (/kyc/id-error-messages)
 */

/** Every overall status the docs list (/resources/vocabulary, IdentificationStatusEnum of kyc.yaml). */
const OVERALL = [
  "APPROVED",
  "DENIED",
  "SUSPECTED",
  "REVIEWING",
  "ACTIVE",
  "EXPIRED",
  "EXPIRED-DELETED",
  "DELETED",
  "ARCHIVED",
] as const;
export type IdenfyOverallStatus = (typeof OVERALL)[number];

/**
 * iDenfy's overall status → ours. A verdict (APPROVED, DENIED, SUSPECTED) is
 * taken only when it is final: the docs say to act on a result only when
 * `final` is true, since a manual review may still overturn an automatic one.
 * - APPROVED → approved; DENIED → denied.
 * - SUSPECTED → suspected: iDenfy flags discrepancies and leaves the decision
 *   to us; the contract keeps it terminal, for an operator to look at.
 * - REVIEWING (a human reviewer is at work) and ACTIVE (token issued, not yet
 *   used up) → in_progress: a result is still coming.
 * - EXPIRED (token expired, no verification took place) and EXPIRED-DELETED
 *   (the same, data deleted) → expired, which the contract re-mints.
 * - DELETED and ARCHIVED → expired: the scanRef can no longer yield a verdict,
 *   so a fresh session is the only way forward; the raw value is the reason.
 */
const STATUS_OF: Record<IdenfyOverallStatus, VerificationStatus> = {
  APPROVED: "approved",
  DENIED: "denied",
  SUSPECTED: "suspected",
  REVIEWING: "in_progress",
  ACTIVE: "in_progress",
  EXPIRED: "expired",
  "EXPIRED-DELETED": "expired",
  DELETED: "expired",
  ARCHIVED: "expired",
};

const tags = z.array(z.string()).nullish();
/** "Empty if not reviewed yet": null, "" or absent. */
const check = z.string().nullish();

/** The check fields shared by the status answer and the webhook's `status` object. */
const checkFields = {
  fraudTags: tags,
  mismatchTags: tags,
  autoDocument: check,
  autoFace: check,
  manualDocument: check,
  manualFace: check,
};
type Checks = { [K in keyof typeof checkFields]?: z.infer<(typeof checkFields)[K]> };

const tokenAnswer = z.looseObject({
  // kyc.yaml names it authToken; one revision of the API reference names it tokenString.
  authToken: z.string().min(1).optional(),
  tokenString: z.string().min(1).optional(),
  scanRef: z.string().min(1),
  redirectUrl: z.url().nullish(),
  expiryTime: z.number().int().positive().nullish(),
});

const statusAnswer = z.looseObject({
  status: z.enum(OVERALL),
  scanRef: z.string().nullish(),
  /** Not in the documented example; honoured when present (/kyc/status-handling: "check the top-level final"). */
  final: z.boolean().nullish(),
  ...checkFields,
});

const callbackBody = z.looseObject({
  final: z.boolean(),
  scanRef: z.string().min(1),
  clientId: z.string().nullish(),
  status: z.looseObject({ overall: z.enum(OVERALL), ...checkFields }),
});

/** Failed checks, manual results over automatic ones, then the tags: iDenfy's own words for a verdict. */
function reasonOf(c: Checks): string | null {
  const parts: string[] = [];
  const doc = c.manualDocument || c.autoDocument;
  const face = c.manualFace || c.autoFace;
  if (doc && doc !== "DOC_VALIDATED") parts.push(`document: ${doc}`);
  if (face && face !== "FACE_MATCH") parts.push(`face: ${face}`);
  if (c.fraudTags?.length) parts.push(`fraud: ${c.fraudTags.join(", ")}`);
  if (c.mismatchTags?.length) parts.push(`mismatch: ${c.mismatchTags.join(", ")}`);
  return parts.length > 0 ? parts.join("; ") : null;
}

/** iDenfy's overall status and checks → our verdict (see STATUS_OF). */
export function verdictOf(overall: IdenfyOverallStatus, final: boolean, c: Checks): ProviderVerdict {
  const status = STATUS_OF[overall];
  if (status === "in_progress") return { status, reason: null };
  if (status === "expired") return { status, reason: overall === "EXPIRED" ? null : overall };
  if (!final) return { status: "in_progress", reason: null };
  return { status, reason: status === "approved" ? null : reasonOf(c) };
}

/** Reads a documented iDenfy verification webhook; 400 VALIDATION_FAILED for a body it cannot read. */
export function parseIdenfyCallback(body: unknown): ProviderEvent {
  const parsed = callbackBody.safeParse(body);
  if (!parsed.success)
    throw validationFailed(issuesFromZod(parsed.error.issues), "Unreadable iDenfy webhook");
  const { final, scanRef, status } = parsed.data;
  return { scanRef, ...verdictOf(status.overall, final, status) };
}

/** Whether `signature` is the hex HMAC-SHA256 of the raw body under `secret` (constant-time). */
export function idenfySignatureValid(
  rawBody: Uint8Array,
  signature: string | undefined,
  secret: string,
): boolean {
  if (!signature || !/^[0-9a-fA-F]{64}$/.test(signature.trim())) return false;
  const expected = createHmac("sha256", secret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(signature.trim(), "hex"));
}

export interface IdenfyOptions {
  /** Base of the API, e.g. https://ivs.idenfy.com (IDENFY_API_URL). */
  apiUrl: string;
  apiKey: string;
  apiSecret: string;
  now?: Clock;
  /** Per call, connection to last body byte. */
  timeoutMs?: number;
  /** Asked of iDenfy as `expiryTime`: how long a minted token may wait for the mitra to start. */
  tokenLifetimeSeconds?: number;
}

export class IdenfyProvider implements VerificationProvider {
  readonly name = "idenfy";
  private readonly base: string;
  private readonly authorization: string;
  private readonly now: Clock;
  private readonly timeoutMs: number;
  private readonly tokenLifetimeSeconds: number;

  constructor(opts: IdenfyOptions) {
    this.base = opts.apiUrl.replace(/\/+$/, "");
    this.authorization = `Basic ${Buffer.from(`${opts.apiKey}:${opts.apiSecret}`).toString("base64")}`;
    this.now = opts.now ?? systemClock;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    // A mitra often opens the link later than the moment it was minted; a day spares re-mints.
    this.tokenLifetimeSeconds = opts.tokenLifetimeSeconds ?? 86_400;
  }

  async createSession(clientId: string): Promise<ProviderSession> {
    const body = { clientId, tokenType: "IDENTIFICATION", expiryTime: this.tokenLifetimeSeconds };
    const answer = await this.call("token", "/api/v2/token", body, tokenAnswer);
    const authToken = answer.authToken ?? answer.tokenString;
    if (!authToken) throw new ProviderError("iDenfy token API answered an unexpected shape: no authToken");
    const lifetime = answer.expiryTime ?? this.tokenLifetimeSeconds;
    return {
      scanRef: answer.scanRef,
      authToken,
      // Documented fallback when the answer has no redirectUrl (/KYC/ClientRedirectToWebUi).
      redirectUrl:
        answer.redirectUrl ?? `${this.base}/api/v2/redirect?authToken=${encodeURIComponent(authToken)}`,
      expiresAt: new Date(this.now().getTime() + lifetime * 1000),
    };
  }

  async getStatus(scanRef: string): Promise<ProviderVerdict> {
    const answer = await this.call("status", "/api/v2/status", { scanRef }, statusAnswer);
    if (answer.scanRef && answer.scanRef !== scanRef) {
      throw new ProviderError("iDenfy status API answered for another scanRef");
    }
    return verdictOf(answer.status, answer.final ?? true, answer);
  }

  parseWebhook(body: unknown): ProviderEvent {
    return parseIdenfyCallback(body);
  }

  /** One POST; every failure becomes a ProviderError that names the API but carries no secret or token. */
  private async call<T>(api: string, path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    const what = `iDenfy ${api} API`;
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${this.base}${path}`, {
        method: "POST",
        headers: {
          authorization: this.authorization,
          "content-type": "application/json",
          accept: "application/json",
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      if (isTimeout(err)) throw new ProviderError(`${what} did not answer within ${this.timeoutMs} ms`);
      const cause = socketErrorCode(err);
      throw new ProviderError(`${what} is unreachable${cause ? ` (${cause})` : ""}`);
    }
    // iDenfy's documented error `identifier` (e.g. UNAUTHORIZED), when the body has one.
    if (!res.ok)
      throw new ProviderError(
        `${what} answered ${res.status}${errorCodeIn(text, "identifier", /^[A-Z_]{1,64}$/)}`,
      );
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ProviderError(`${what} answered ${res.status} with a body that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      // Paths only: values could be tokens.
      const paths = [...new Set(parsed.error.issues.map((i) => i.path.join(".") || "(root)"))];
      throw new ProviderError(`${what} answered an unexpected shape at ${paths.join(", ")}`);
    }
    return parsed.data;
  }
}
