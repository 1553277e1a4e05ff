/**
 * What a route handler sees: plain data copied out of uWS before any await.
 * Nothing here is a uWS type, so handlers stay testable and transport-free.
 */
export interface HttpRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** Lower-cased header names. */
  headers: Readonly<Record<string, string>>;
  /** The client's address (first X-Forwarded-For entry when TRUST_PROXY). */
  ip: string;
  params: Readonly<Record<string, string>>;
  body: Buffer;
  requestId: string;
}

export interface HttpResponse {
  status: number;
  /** Serialised as JSON unless `raw` is set. */
  body?: unknown;
  /** Already-encoded body (Prometheus text, HTML, static files). */
  raw?: { contentType: string; data: string | Buffer };
  headers?: Readonly<Record<string, string | readonly string[]>>;
}

export type RouteHandler = (req: HttpRequest) => Promise<HttpResponse> | HttpResponse;
