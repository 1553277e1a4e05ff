import WebSocket from "ws";
import { LeanSocket } from "./lean-ws.mjs";

/**
 * The WebSocket client class a load process uses: BENCH_WS_IMPL=lean picks
 * lib/lean-ws.mjs (a fraction of the client CPU: see there), anything else
 * the `ws` package. Both expose the same subset of `ws`'s API.
 */
export const WebSocketImpl = process.env.BENCH_WS_IMPL === "lean" ? LeanSocket : WebSocket;
