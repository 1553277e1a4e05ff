import type { TemplatedApp, HttpRequest as UwsRequest, HttpResponse as UwsResponse } from "uWebSockets.js";
import { randomUUID } from "node:crypto";
import { AppError } from "../errors.js";
import type { Logger } from "../log.js";
import { type CorsPolicy, corsHeaders, PREFLIGHT_HEADERS } from "./cors.js";
import { errorResponse } from "./error-response.js";
import type { Router } from "./router.js";
import type { HttpRequest, HttpResponse } from "./types.js";

export const MAX_BODY_BYTES = 64 * 1024;

const STATUS_TEXT: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Payload Too Large",
  422: "Unprocessable Entity",
  423: "Locked",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

export interface ServeOptions {
  log: Logger;
  trustProxy: boolean;
  /** Observes every finished request (metrics). */
  onFinished?: (method: string, status: number, seconds: number) => void;
  /** CORS for listed origins (the internal listener, contract §10). */
  cors?: CorsPolicy;
}

/** Counts requests in flight so shutdown can wait for them (contract §8). */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];
  enter(): void {
    this.count++;
  }
  leave(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  get size(): number {
    return this.count;
  }
  drained(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

interface ResState {
  done: boolean;
}

/**
 * Mounts a Router on a uWS app. Every uWS rule of style.md lives here: the
 * request is copied before the first await, onAborted is registered first,
 * writes after an await are corked, body chunks are copied and counted
 * against the cap as they arrive, and nothing touches `res` after an abort.
 */
export function serveRouter(
  app: TemplatedApp,
  router: Router,
  opts: ServeOptions,
  inFlight: InFlight,
  pattern = "/*",
): void {
  app.any(pattern, (res: UwsResponse, uwsReq: UwsRequest) => {
    const started = process.hrtime.bigint();
    const state: ResState = { done: false };
    inFlight.enter();
    res.onAborted(() => {
      if (!state.done) {
        state.done = true;
        inFlight.leave();
      }
    });

    const method = uwsReq.getMethod().toUpperCase();
    const path = uwsReq.getUrl();
    const rawQuery = uwsReq.getQuery() ?? "";
    const headers: Record<string, string> = {};
    uwsReq.forEach((k, v) => {
      headers[k] = v;
    });
    const socketIp = Buffer.from(res.getRemoteAddressAsText()).toString();
    const ip = opts.trustProxy ? (headers["x-forwarded-for"]?.split(",")[0]?.trim() ?? socketIp) : socketIp;
    const requestId = validRequestId(headers["x-request-id"]) ?? randomUUID();

    const cors = corsHeaders(opts.cors, headers.origin, path);
    const finish = (answer: HttpResponse, closeConnection = false): void => {
      if (state.done) return;
      const response = cors ? { ...answer, headers: { ...answer.headers, ...cors } } : answer;
      state.done = true;
      inFlight.leave();
      res.cork(() => writeResponse(res, response, requestId, method === "HEAD", closeConnection));
      opts.onFinished?.(method, response.status, Number(process.hrtime.bigint() - started) / 1e9);
    };

    const fail = (err: unknown): void => finish(errorResponse(err, opts.log, requestId));

    if (method === "OPTIONS" && cors && headers["access-control-request-method"])
      return finish({ status: 204, headers: PREFLIGHT_HEADERS });

    const match = router.match(method, path);
    if (match.kind === "not-found") {
      return fail(new AppError("NOT_FOUND", 404, `No route for ${path}`));
    }
    if (match.kind === "method-not-allowed") {
      const r = errorResponse(
        new AppError("METHOD_NOT_ALLOWED", 405, `${method} is not allowed here`),
        opts.log,
        requestId,
      );
      return finish({ ...r, headers: { ...r.headers, allow: match.allowed.join(", ") } });
    }

    const run = (body: Buffer): void => {
      const req: HttpRequest = {
        method,
        path,
        query: new URLSearchParams(rawQuery),
        headers,
        ip,
        params: match.params,
        body,
        requestId,
      };
      let result: Promise<HttpResponse> | HttpResponse;
      try {
        result = match.handler(req);
      } catch (err) {
        return fail(err);
      }
      if (result instanceof Promise) result.then(finish, fail);
      else finish(result);
    };

    if (method === "GET" || method === "HEAD") return run(Buffer.alloc(0));

    const declared = Number(headers["content-length"] ?? "0");
    if (declared > MAX_BODY_BYTES) {
      // Answer at once and drop the connection rather than read a body we will refuse.
      return finish(errorResponse(tooLarge(), opts.log, requestId), true);
    }
    readBody(res, state, (body) => {
      if (body === null) return finish(errorResponse(tooLarge(), opts.log, requestId), true);
      run(body);
    });
  });
}

const tooLarge = (): AppError =>
  new AppError("PAYLOAD_TOO_LARGE", 413, `Body is larger than ${MAX_BODY_BYTES / 1024} KiB`);

/** Collects the body; calls back with null as soon as it passes the cap. */
function readBody(res: UwsResponse, state: ResState, cb: (body: Buffer | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  res.onData((chunk, isLast) => {
    if (state.done || over) return;
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) {
      over = true;
      return cb(null);
    }
    // The chunk is a view into uWS memory that dies when this callback returns: copy it.
    chunks.push(Buffer.from(new Uint8Array(chunk)));
    if (isLast) cb(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
  });
}

export function writeResponse(
  res: UwsResponse,
  r: HttpResponse,
  requestId: string,
  headOnly: boolean,
  closeConnection: boolean,
): void {
  res.writeStatus(`${r.status} ${STATUS_TEXT[r.status] ?? "Unknown"}`);
  res.writeHeader("x-request-id", requestId);
  let payload: string | Buffer = "";
  if (r.raw) {
    res.writeHeader("content-type", r.raw.contentType);
    payload = r.raw.data;
  } else if (r.body !== undefined && r.status !== 204) {
    res.writeHeader("content-type", "application/json; charset=utf-8");
    payload = JSON.stringify(r.body);
  }
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    if (typeof v === "string") res.writeHeader(k, v);
    else for (const one of v) res.writeHeader(k, one);
  }
  if (r.status === 204 || r.status === 304) res.endWithoutBody(0, closeConnection);
  else if (headOnly) res.endWithoutBody(Buffer.byteLength(payload), closeConnection);
  else res.end(payload, closeConnection);
}

function validRequestId(v: string | undefined): string | undefined {
  return v && /^[A-Za-z0-9._-]{1,64}$/.test(v) ? v : undefined;
}
