import { type Clock, systemClock } from "../clock.js";
import { networkCause } from "../outbound-http.js";
import {
  AccessTokenError,
  AccessTokenSource,
  readServiceAccount,
  type ServiceAccount,
} from "./fcm-access-token.js";
import type { PushMessage, PushProvider, PushResult } from "./push-provider.js";

/*
 * FCM HTTP v1 (firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send
 * and /docs/reference/fcm/rest/v1/ErrorCode):
 *   POST {apiUrl}/v1/projects/{projectId}/messages:send, Bearer <OAuth2 token>
 *   200 {name}; errors {error: {code, message, status, details: [
 *     {"@type": "…google.firebase.fcm.v1.FcmError", errorCode},
 *     {"@type": "…google.rpc.BadRequest", fieldViolations: [{field, description}]}]}}
 */

export const FCM_API_URL = "https://fcm.googleapis.com";
const DEFAULT_TIMEOUT_MS = 10_000;

export interface FcmProviderConfig {
  projectId: string;
  /** Already read (FcmProvider.fromFile reads FCM_SERVICE_ACCOUNT_FILE). */
  account: ServiceAccount;
  /** FCM_API_URL; Google's when unset. */
  apiUrl?: string;
  /** FCM_TOKEN_URL; else the account's `token_uri`; else Google's. */
  tokenUrl?: string;
  /** Per HTTP request, token or send. */
  timeoutMs?: number;
  now?: Clock;
}

interface FcmErrorBody {
  status?: string;
  message?: string;
  errorCode?: string;
  tokenFieldViolation: boolean;
}

export class FcmProvider implements PushProvider {
  readonly name = "fcm";
  readonly tokens: AccessTokenSource;
  private readonly sendUrl: string;
  private readonly timeoutMs: number;
  private readonly now: Clock;

  constructor(config: FcmProviderConfig) {
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = config.now ?? systemClock;
    const api = (config.apiUrl ?? FCM_API_URL).replace(/\/+$/, "");
    this.sendUrl = `${api}/v1/projects/${encodeURIComponent(config.projectId)}/messages:send`;
    this.tokens = new AccessTokenSource({
      account: config.account,
      tokenUrl: config.tokenUrl,
      timeoutMs: this.timeoutMs,
      now: this.now,
    });
  }

  /** Reads the service account at startup, so a bad file stops the boot rather than every push. */
  static async fromFile(
    config: Omit<FcmProviderConfig, "account"> & { serviceAccountFile: string },
  ): Promise<FcmProvider> {
    const { serviceAccountFile, ...rest } = config;
    return new FcmProvider({ ...rest, account: await readServiceAccount(serviceAccountFile) });
  }

  async send(msg: PushMessage): Promise<PushResult> {
    const first = await this.attempt(msg);
    if (first.kind !== "unauthorized") return first;
    // A 401 means the cached token went bad before its time (revoked key, clock skew): one fresh token, one more try.
    this.tokens.invalidate(first.token);
    const second = await this.attempt(msg);
    if (second.kind !== "unauthorized") return second;
    return { kind: "failed", reason: "FCM refused a freshly fetched access token (401)" };
  }

  private async attempt(msg: PushMessage): Promise<PushResult | { kind: "unauthorized"; token: string }> {
    let token: string;
    try {
      token = await this.tokens.get();
    } catch (err) {
      if (err instanceof AccessTokenError) {
        return err.retryable
          ? { kind: "retry", reason: err.message }
          : { kind: "failed", reason: err.message };
      }
      throw err;
    }
    let res: Response;
    let text: string;
    try {
      res = await fetch(this.sendUrl, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json; charset=utf-8",
          accept: "application/json",
        },
        body: JSON.stringify({ message: fcmMessage(msg) }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      return { kind: "retry", reason: `FCM unreachable (${networkCause(err)})` };
    }
    if (res.ok) return { kind: "sent" };
    if (res.status === 401) return { kind: "unauthorized", token };
    return resultOfError(res.status, parseFcmError(text), res.headers.get("retry-after"), this.now());
  }
}

/**
 * Data-only, woken in the background on both platforms: Android high
 * priority (normal may be deferred under Doze), and on iOS a background push
 * (content-available, apns-push-type background) which APNs requires to be
 * sent at priority 10 or 5; 10 so an offer is not held back for power.
 */
export function fcmMessage(msg: PushMessage): Record<string, unknown> {
  return {
    token: msg.token,
    data: msg.data,
    android: { priority: "high" },
    apns: {
      headers: { "apns-priority": "10", "apns-push-type": "background" },
      payload: { aps: { "content-available": 1 } },
    },
  };
}

function resultOfError(status: number, body: FcmErrorBody, retryAfter: string | null, now: Date): PushResult {
  const what = `FCM answered ${status}${body.errorCode ? ` ${body.errorCode}` : body.status ? ` ${body.status}` : ""}`;
  // A 404 without UNREGISTERED is a wrong project or URL: it fails, so a misconfiguration cannot delete every token.
  if (body.errorCode === "UNREGISTERED") return { kind: "unregistered" };
  if (status === 400 && body.tokenFieldViolation) return { kind: "unregistered" };
  if (status === 429 || status >= 500) {
    const afterMs = retryAfterMs(retryAfter, now);
    return afterMs === undefined ? { kind: "retry", reason: what } : { kind: "retry", afterMs, reason: what };
  }
  return { kind: "failed", reason: what };
}

/** Retry-After as delta-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; undefined when absent or unparsable. */
export function retryAfterMs(header: string | null, now: Date): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  // Date.parse is lenient ("-5" is a year): a date must at least name its month or day.
  const at = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

/**
 * The parts of a Google error body that decide the result. A bad token is
 * 400 INVALID_ARGUMENT whose BadRequest violation names `message.token`
 * (older answers say only "registration token is not a valid FCM
 * registration token" in the message).
 */
function parseFcmError(text: string): FcmErrorBody {
  let error: Record<string, unknown> | undefined;
  try {
    const json = JSON.parse(text) as { error?: unknown };
    if (json && typeof json.error === "object" && json.error !== null)
      error = json.error as Record<string, unknown>;
  } catch {
    // not JSON (a proxy's HTML 502): decided by the status alone
  }
  if (!error) return { tokenFieldViolation: false };
  const status = typeof error.status === "string" ? error.status : undefined;
  const message = typeof error.message === "string" ? error.message : undefined;
  let errorCode: string | undefined;
  let tokenField = false;
  for (const d of Array.isArray(error.details) ? error.details : []) {
    if (typeof d !== "object" || d === null) continue;
    const detail = d as { errorCode?: unknown; fieldViolations?: unknown };
    if (typeof detail.errorCode === "string") errorCode ??= detail.errorCode;
    if (Array.isArray(detail.fieldViolations)) {
      tokenField ||= detail.fieldViolations.some(
        (v) => (v as { field?: unknown })?.field === "message.token",
      );
    }
  }
  const invalidArgument = errorCode === "INVALID_ARGUMENT" || status === "INVALID_ARGUMENT";
  const tokenFieldViolation = invalidArgument && (tokenField || /registration token/i.test(message ?? ""));
  return { status, message, errorCode, tokenFieldViolation };
}
