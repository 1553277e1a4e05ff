import { ClientCode, errorFromBody, HaloError } from "./errors.js";

/** What the SDK needs of a response: the global `fetch`'s answers fit, and so does a test's wrapper. */
export interface ResponseLike {
  status: number;
  text(): Promise<string>;
}

export interface RequestInitLike {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** The global `fetch` (browsers, React Native, Node ≥ 18) or any function shaped like it. */
export type FetchLike = (url: string, init: RequestInitLike) => Promise<ResponseLike>;

export interface HttpOptions {
  /** The public listener, e.g. `https://api.example.com` or `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** Defaults to the global `fetch`, looked up at each call. */
  fetch?: FetchLike;
  /** Per request; default 15 s. */
  timeoutMs?: number;
}

export interface CallOptions {
  body?: unknown;
  /** Sent as `Authorization: Bearer …`. */
  token?: string;
  /** Sent as `Idempotency-Key` (contract §7). */
  idempotencyKey?: string;
  query?: Record<string, string | number | undefined>;
  timeoutMs?: number;
}

/**
 * JSON over HTTP, as the contract speaks it: a non-2xx answer becomes a
 * HaloError with the body's code; a request with no answer becomes
 * NETWORK_ERROR or TIMEOUT (the caller decides whether it is safe to retry).
 */
export class HaloHttp {
  readonly baseUrl: string;
  private readonly fetchFn: FetchLike;
  private readonly timeoutMs: number;

  constructor(opts: HttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.fetchFn = opts.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  async request<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (opts.idempotencyKey) headers["idempotency-key"] = opts.idempotencyKey;
    const controller = new AbortController();
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    let status: number;
    let text: string;
    try {
      const res = await this.fetchFn(this.baseUrl + path + queryString(opts.query), {
        method,
        headers,
        ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
        signal: controller.signal,
      });
      status = res.status;
      text = await res.text();
    } catch (cause) {
      if (timedOut)
        throw new HaloError(ClientCode.timeout, `${method} ${path}: no answer in ${timeoutMs} ms`, { cause });
      throw new HaloError(ClientCode.network, `${method} ${path}: ${describe(cause)}`, { cause });
    } finally {
      clearTimeout(timer);
    }
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      throw new HaloError(ClientCode.badResponse, `${method} ${path}: answered ${status} with no JSON`, {
        status,
      });
    }
    if (status >= 200 && status < 300) return body as T;
    const error = (body as { error?: unknown } | undefined)?.error;
    if (!error)
      throw new HaloError(ClientCode.badResponse, `${method} ${path}: answered ${status}`, { status });
    throw errorFromBody(error, status);
  }
}

function queryString(query: CallOptions["query"]): string {
  if (!query) return "";
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query))
    if (v !== undefined) parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
