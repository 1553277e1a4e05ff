/**
 * The WebSocket the SDK drives: the browser's and React Native's global
 * `WebSocket` have this shape, and so does the `ws` package's class in Node.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** Opens a socket to `url` carrying `accessToken`. */
export type WebSocketFactory = (url: string, accessToken: string) => WebSocketLike;

type GlobalWebSocket = new (url: string) => WebSocketLike;

/**
 * The global `WebSocket` (browsers, React Native, Node ≥ 22). Browsers
 * cannot set headers on an upgrade, so the token rides in `?access_token=`
 * (the gateway keeps it out of its logs).
 */
export const globalWebSocketFactory: WebSocketFactory = (url, accessToken) => {
  const Ctor = (globalThis as { WebSocket?: GlobalWebSocket }).WebSocket;
  if (!Ctor)
    throw new Error(
      "No global WebSocket here: pass `webSocket` (in Node, import from @halo/client/node, which uses ws)",
    );
  return new Ctor(withToken(url, accessToken));
};

export function withToken(url: string, accessToken: string): string {
  return `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(accessToken)}`;
}

/** `http://host:8080` → `ws://host:8080/ws`; a `ws(s)://` URL is taken as it is. */
export function socketUrl(base: string, path = "/ws"): string {
  if (/^wss?:\/\//.test(base)) return base;
  return `${base.replace(/\/+$/, "").replace(/^http/, "ws")}${path}`;
}

/**
 * The HTTP status of a refused upgrade, when the WebSocket implementation
 * tells it (`ws` does, in its error's message); browsers hide it (undefined).
 */
export function upgradeStatusOf(errorEvent: unknown): number | undefined {
  const e = errorEvent as { message?: unknown; error?: { message?: unknown } } | null | undefined;
  const text = `${e?.message ?? ""} ${e?.error?.message ?? ""}`;
  const m = /Unexpected server response: (\d{3})/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The gateway sends text frames only; anything else (binary) is not a frame of the protocol. */
export function frameText(data: unknown): string | undefined {
  return typeof data === "string" ? data : undefined;
}
