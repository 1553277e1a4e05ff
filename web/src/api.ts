/** HTTP to the gateway's internal listener: JSON in, JSON out, errors as ApiError. */

export interface Issue {
  path: string;
  message: string;
}

/** An answer other than 2xx, or no answer at all (`status` 0, code `NETWORK`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds: number | undefined = undefined,
    readonly issues: readonly Issue[] = [],
  ) {
    super(message);
  }

  /** The message the server gave for one field, if any (`issues[].path`). */
  issueFor(path: string): string | undefined {
    return this.issues.find((i) => i.path === path || i.path.startsWith(`${path}.`))?.message;
  }
}

export interface RequestOptions {
  body?: unknown;
  token?: string | null;
  /** Sent as `Idempotency-Key` (contract §7): a retried create returns the first result. */
  idempotencyKey?: string;
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.idempotencyKey) headers["idempotency-key"] = opts.idempotencyKey;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      // Same origin: the cc_refresh cookie (Path=/internal/auth) goes along by itself.
      credentials: "same-origin",
      cache: "no-store",
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
  } catch {
    throw new ApiError(0, "NETWORK", "The gateway cannot be reached. Check the connection and try again.");
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (res.ok) return json as T;
  const err = (json as { error?: Record<string, unknown> } | undefined)?.error;
  const retryHeader = Number(res.headers.get("retry-after"));
  const retryAfter =
    typeof err?.retryAfterSeconds === "number"
      ? err.retryAfterSeconds
      : Number.isFinite(retryHeader) && retryHeader > 0
        ? retryHeader
        : undefined;
  throw new ApiError(
    res.status,
    typeof err?.code === "string" ? err.code : `HTTP_${res.status}`,
    typeof err?.message === "string" ? err.message : `The gateway answered ${res.status}.`,
    retryAfter,
    Array.isArray(err?.issues) ? (err.issues as Issue[]) : [],
  );
}

/** A query string from the set fields only (`?a=1&b=x`, or "" when none is set). */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

/**
 * A fresh idempotency key (kept by a form until its create succeeds, so a retry is not a second create).
 * A v4 UUID from getRandomValues: randomUUID exists only in secure contexts, and the control center
 * may be opened over plain http on a private network.
 */
export function newIdempotencyKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
