/**
 * The operator's socket, /internal/ws (contract §4): `hello`, then
 * `dashboard.counts` on every change. A new access token is swapped in-band
 * (`auth.refresh`); `revoked` / close 4003 ends the session; `token.expired` /
 * 4001 refreshes and reconnects at once; any other close reconnects with
 * exponential backoff and full jitter while a "reconnecting" banner shows.
 */
import { signal } from "@preact/signals";
import { ApiError, request } from "./api";
import { endSession, freshToken, onSessionEnd, onTokenChange, refresh } from "./session";
import type { Counts } from "./types";

export type LinkState = "idle" | "connecting" | "open" | "reconnecting";

export const link = signal<LinkState>("idle");
/** The latest counts pushed by the gateway, and when they arrived (ms). */
export const counts = signal<Counts | null>(null);
export const countsAt = signal<number>(0);
/** When the next reconnect attempt is due (ms since epoch), for the banner. */
export const retryAt = signal<number>(0);
/** Bumped on every `hello`: pages reload what they show after a reconnect. */
export const connectedEpoch = signal<number>(0);

const countListeners = new Set<(c: Counts, at: number) => void>();
export function onCounts(fn: (c: Counts, at: number) => void): () => void {
  countListeners.add(fn);
  return () => countListeners.delete(fn);
}

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15_000;

let ws: WebSocket | null = null;
let running = false;
let attempt = 0;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let nextFrameId = 0;
let openedOnce = false;

export function startLive(): void {
  if (running) return;
  running = true;
  attempt = 0;
  openedOnce = false;
  void connect();
}

export function stopLive(): void {
  running = false;
  clearTimeout(retryTimer);
  const s = ws;
  ws = null;
  if (s && s.readyState <= WebSocket.OPEN) s.close(1000, "signed out");
  link.value = "idle";
  counts.value = null;
}

onSessionEnd(stopLive);
onTokenChange((token) => {
  if (ws?.readyState === WebSocket.OPEN)
    ws.send(JSON.stringify({ type: "auth.refresh", id: `refresh-${++nextFrameId}`, accessToken: token }));
});

function socketUrl(token: string): string {
  const u = new URL("/internal/ws", location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  // Browsers cannot set headers on a WebSocket: the query form of the token (contract §4).
  u.searchParams.set("access_token", token);
  return u.toString();
}

async function connect(): Promise<void> {
  if (!running) return;
  link.value = openedOnce || attempt > 0 ? "reconnecting" : "connecting";
  let token: string;
  try {
    token = await freshToken(10_000);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return; // the session ended
    return retryLater();
  }
  if (!running) return;
  const s = new WebSocket(socketUrl(token));
  ws = s;
  let helloSeen = false;
  s.onmessage = (ev) => {
    if (ws !== s || typeof ev.data !== "string") return;
    let frame: { type?: string } & Record<string, unknown>;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        helloSeen = true;
        openedOnce = true;
        attempt = 0;
        link.value = "open";
        connectedEpoch.value++;
        break;
      case "dashboard.counts": {
        const c: Counts = {
          online: Number(frame.online),
          available: Number(frame.available),
          deactivated: Number(frame.deactivated),
          activeSessions: Number(frame.activeSessions),
          pendingSessions: Number(frame.pendingSessions),
        };
        const at = Date.now();
        counts.value = c;
        countsAt.value = at;
        for (const fn of countListeners) fn(c, at);
        break;
      }
      case "revoked":
        endSession(
          "Your session has ended (signed out elsewhere, or the password was changed). Sign in again.",
        );
        break;
      default:
        // acks of auth.refresh, token.expired (the close follows), errors: nothing to show.
        break;
    }
  };
  s.onclose = (ev) => {
    if (ws !== s) return;
    ws = null;
    if (!running) return;
    if (ev.code === 4003) {
      endSession(
        "Your session has ended (signed out elsewhere, or the password was changed). Sign in again.",
      );
      return;
    }
    if (ev.code === 4001) {
      // The token ran out before a refresh reached the socket: refresh and come back at once.
      link.value = "reconnecting";
      refresh().then(
        () => void connect(),
        (err) => {
          if (!(err instanceof ApiError && (err.status === 401 || err.status === 403))) retryLater();
        },
      );
      return;
    }
    if (!helloSeen) {
      // Refused at the upgrade (a browser does not see the HTTP status): a revoked session shows up here.
      void checkSession().then((alive) => {
        if (alive) retryLater();
      });
      return;
    }
    retryLater();
  };
}

/** false when the gateway says the session is gone (the session module has ended it). */
async function checkSession(): Promise<boolean> {
  try {
    await request("GET", "/internal/auth/me", { token: await freshToken(10_000) });
    return true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      if (err.code === "TOKEN_EXPIRED") return true;
      endSession(
        "Your session has ended (signed out elsewhere, or the password was changed). Sign in again.",
      );
      return false;
    }
    return !(err instanceof ApiError && err.status === 403);
  }
}

function retryLater(): void {
  if (!running) return;
  link.value = "reconnecting";
  const cap = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  attempt++;
  // Full jitter: a gateway restart does not bring every dashboard back in the same millisecond.
  const delay = Math.max(250, Math.random() * cap);
  retryAt.value = Date.now() + delay;
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => void connect(), delay);
}

/** Skips the wait (the banner's "Retry now"). */
export function reconnectNow(): void {
  if (!running || ws) return;
  clearTimeout(retryTimer);
  void connect();
}
