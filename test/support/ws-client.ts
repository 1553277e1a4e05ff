import type { Socket } from "node:net";
import WebSocket from "ws";

/** A server frame as loose JSON: tests assert on its shape field by field. */
// biome-ignore lint/suspicious/noExplicitAny: test assertions walk arbitrary JSON
export type Frame = { type: string } & Record<string, any>;

export interface Closed {
  code: number;
  reason: string;
}

export interface ConnectOptions {
  /** The access token; sent as `Authorization: Bearer` unless `via: "query"`. */
  token?: string;
  via?: "header" | "query";
  headers?: Record<string, string>;
}

/** An upgrade the server answered with HTTP instead of a socket. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    // biome-ignore lint/suspicious/noExplicitAny: the JSON error body, asserted field by field
    readonly body: any,
  ) {
    super(`upgrade refused with ${status}`);
  }
}

/** `http://host:port` + `/ws` → `ws://host:port/ws`. */
export const wsUrl = (httpBase: string, path: string): string => `${httpBase.replace(/^http/, "ws")}${path}`;

interface Waiter {
  match: (f: Frame) => boolean;
  resolve: (f: Frame) => void;
}

/**
 * A WebSocket client as an app would hold one, over the `ws` package: every
 * frame received is kept (`frames`), `next` and `request` take frames out of
 * an unread queue in arrival order, `closed` resolves with the close code.
 */
export class WsClient {
  /** Every frame received, in order (read or not). */
  readonly frames: Frame[] = [];
  readonly closed: Promise<Closed>;
  private readonly unread: Frame[] = [];
  private waiters: Waiter[] = [];
  private nextId = 0;
  private closedWith: Closed | undefined;
  private readonly openedAt = performance.now();

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
      });
    });
    // A server that drops the connection surfaces as an error event first; `closed` reports it (1006).
    ws.on("error", () => {});
    ws.on("message", (data, isBinary) => {
      const text = Buffer.isBuffer(data)
        ? data.toString("utf8")
        : Buffer.from(data as ArrayBuffer).toString();
      let frame: Frame;
      try {
        frame = JSON.parse(text) as Frame;
      } catch {
        frame = { type: "<not json>", raw: text, isBinary };
      }
      this.frames.push(frame);
      const w = this.waiters.find((x) => x.match(frame));
      if (w) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve(frame);
      } else {
        this.unread.push(frame);
      }
    });
  }

  /** Opens a socket; rejects with UpgradeRefused when the server answers the upgrade with HTTP. */
  static connect(url: string, opts: ConnectOptions = {}): Promise<WsClient> {
    const u = new URL(url);
    if (opts.token && opts.via === "query") u.searchParams.set("access_token", opts.token);
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token && opts.via !== "query") headers.authorization = `Bearer ${opts.token}`;
    const ws = new WebSocket(u, { headers });
    // Listening from the first moment: hello is sent right after the upgrade.
    const client = new WsClient(ws);
    return new Promise((resolve, reject) => {
      ws.once("open", () => resolve(client));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => {
          let parsed: unknown = body;
          try {
            parsed = JSON.parse(body);
          } catch {}
          ws.terminate();
          reject(new UpgradeRefused(res.statusCode ?? 0, parsed));
        });
      });
      ws.once("error", (err) => reject(err));
    });
  }

  /** The next unread frame of `type` (earlier frames of other types stay unread). */
  next(type: string, timeoutMs = 3000): Promise<Frame> {
    return this.take((f) => f.type === type, `a ${type} frame`, timeoutMs);
  }

  /** Sends a frame (an id is added when it has none) and resolves with the ack or error carrying that id. */
  request(frame: Record<string, unknown>, timeoutMs = 3000): Promise<Frame> {
    const withId = "id" in frame ? frame : { ...frame, id: `r${++this.nextId}` };
    const id = withId.id;
    const answer = this.take(
      (f) => (f.type === "ack" || f.type === "error") && f.id === id,
      `the answer to ${JSON.stringify(id)}`,
      timeoutMs,
    );
    this.send(withId);
    return answer;
  }

  /** Sends an object as JSON, or a string or buffer as it is (a buffer goes as a binary frame). */
  send(frame: Record<string, unknown> | string | Buffer): void {
    this.ws.send(typeof frame === "string" || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame));
  }

  /** Frames not yet taken by next/request. */
  get pending(): readonly Frame[] {
    return this.unread;
  }

  /** The close, if the socket has closed already. */
  get closedNow(): Closed | undefined {
    return this.closedWith;
  }

  /** Stops reading from the TCP socket: the server's frames pile up in the kernel, then in its buffers. */
  pause(): void {
    this.rawSocket().pause();
  }

  resume(): void {
    this.rawSocket().resume();
  }

  /** Closes from the client side and waits for the close to finish. */
  async close(): Promise<Closed> {
    if (!this.closedWith) this.ws.close(1000);
    return this.closed;
  }

  private rawSocket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  private take(match: (f: Frame) => boolean, what: string, timeoutMs: number): Promise<Frame> {
    const i = this.unread.findIndex(match);
    if (i >= 0) return Promise.resolve(this.unread.splice(i, 1)[0] as Frame);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== waiter);
        const seen = this.frames.map((f) => f.type).join(", ");
        // Whether the server closed the socket (and how) tells a lost frame from a late one.
        const state = this.closedWith
          ? `closed ${this.closedWith.code} ${JSON.stringify(this.closedWith.reason)}`
          : `open ${Math.round(performance.now() - this.openedAt)} ms`;
        reject(
          new Error(`no ${what} within ${timeoutMs} ms (received: ${seen || "nothing"}; socket ${state})`),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }
}

/** Tries an upgrade that must be refused; resolves with the HTTP status and body. */
export async function refusedUpgrade(url: string, opts: ConnectOptions = {}): Promise<UpgradeRefused> {
  try {
    const c = await WsClient.connect(url, opts);
    await c.close();
  } catch (err) {
    if (err instanceof UpgradeRefused) return err;
    throw err;
  }
  throw new Error("the upgrade was accepted");
}
