/**
 * @halo/client/node — the same SDK, with the `ws` package as the WebSocket
 * (Node 20 has no global one) and the token sent in the Authorization header.
 */
import WebSocket from "ws";
import { type ClientOptions, HaloClient } from "./client.js";
import type { WebSocketFactory, WebSocketLike } from "./transport.js";

export * from "./index.js";

export const nodeWebSocketFactory: WebSocketFactory = (url, accessToken) => {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${accessToken}` } });
  // An EventEmitter error with no listener throws; the SDK reads errors through onerror.
  ws.on("error", () => {});
  // ws's class has the browser shape (onopen, onmessage, onclose, onerror, send, close).
  return ws as unknown as WebSocketLike;
};

/** A client whose socket is `ws` unless `webSocket` says otherwise. */
export function createHaloClient(opts: ClientOptions): HaloClient {
  return new HaloClient({ webSocket: nodeWebSocketFactory, ...opts });
}
