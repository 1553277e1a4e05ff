/**
 * A lean WebSocket client for load generation: the part of the `ws` package's
 * API the heartbeat load uses (constructor with headers and localAddress,
 * `send(string)`, `close(code)`, `terminate()`, `readyState`, and the events
 * open / message / close / error / unexpected-response), over a plain
 * net.Socket.
 *
 * Why: on this 2-core machine the load generators share the CPUs with the
 * server they measure. With `ws`, two soak client processes took ~70 % of a
 * core at 18,000 heartbeats/s (46 % user, 24 % system), and the gateway's
 * event loop waited for a CPU for 5–7 % of every window. A load generator's
 * cost is not the server's; this one does only what the protocol needs:
 *
 * - frames are sent with a zero masking key (RFC 6455 requires a mask, not a
 *   particular key; the server unmasks as for any key), so a send is one
 *   allocation and one write;
 * - server frames are parsed in place (unmasked, FIN expected; continuation
 *   frames are joined anyway); pings are answered; a close frame is echoed;
 * - the 101's Sec-WebSocket-Accept is not verified (loopback, our server).
 *
 * Not for anything but benches: no extensions, no UTF-8 validation.
 */
import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import net from "node:net";

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const HEAD_END = Buffer.from("\r\n\r\n");

export class LeanSocket extends EventEmitter {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;

  /** @param {string} url ws://host:port/path  @param {{headers?: Record<string,string>, localAddress?: string, handshakeTimeout?: number}} opts */
  constructor(url, opts = {}) {
    super();
    const u = new URL(url);
    this.readyState = CONNECTING;
    this.closeCode = 1006;
    /** Bytes of an incomplete frame (or of the 101 response) from the last read. */
    this.pending = null;
    /** Payload parts of a fragmented message. */
    this.parts = null;
    const headers = {
      Host: u.host,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
      "Sec-WebSocket-Version": "13",
      ...opts.headers,
    };
    const head =
      `GET ${u.pathname}${u.search} HTTP/1.1\r\n` +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("") +
      "\r\n";
    const socket = net.connect({
      host: u.hostname,
      port: Number(u.port || 80),
      localAddress: opts.localAddress,
    });
    this.socket = socket;
    socket.setNoDelay(true);
    const timer =
      opts.handshakeTimeout > 0
        ? setTimeout(() => this.fail(new Error("Opening handshake has timed out")), opts.handshakeTimeout)
        : null;
    this.handshakeTimer = timer;
    socket.once("connect", () => socket.write(head));
    socket.on("data", (chunk) => this.onData(chunk));
    socket.on("error", (err) => this.fail(err));
    socket.once("close", () => {
      if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
      const was = this.readyState;
      this.readyState = CLOSED;
      if (was !== CLOSED) this.emit("close", this.closeCode);
    });
  }

  fail(err) {
    if (this.readyState === CLOSED) return;
    this.emit("error", err);
    this.socket.destroy();
  }

  onData(chunk) {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    if (this.readyState === CONNECTING) {
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        this.pending = buf;
        return;
      }
      const status = Number(buf.toString("latin1", 9, 12));
      if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
      this.handshakeTimer = null;
      if (status !== 101) {
        this.readyState = CLOSING;
        this.emit("unexpected-response", null, { statusCode: status });
        this.socket.destroy();
        return;
      }
      this.readyState = OPEN;
      this.emit("open");
      buf = buf.subarray(end + 4);
    }
    let at = 0;
    while (buf.length - at >= 2) {
      const b0 = buf[at];
      let len = buf[at + 1] & 0x7f;
      let off = at + 2;
      if (len === 126) {
        if (buf.length - at < 4) break;
        len = buf.readUInt16BE(at + 2);
        off = at + 4;
      } else if (len === 127) {
        if (buf.length - at < 10) break;
        len = Number(buf.readBigUInt64BE(at + 2));
        off = at + 10;
      }
      if (buf.length < off + len) break;
      this.onFrame(b0 & 0x80, b0 & 0x0f, buf.subarray(off, off + len));
      at = off + len;
      if (this.readyState === CLOSED) return;
    }
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }

  onFrame(fin, opcode, payload) {
    if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
      if (!fin || this.parts) {
        if (!this.parts) this.parts = [];
        this.parts.push(Buffer.from(payload));
        if (!fin) return;
        payload = Buffer.concat(this.parts);
        this.parts = null;
      }
      this.emit("message", payload);
    } else if (opcode === 0x8) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      if (this.readyState === OPEN) this.writeFrame(0x8, payload.subarray(0, 2));
      this.readyState = CLOSING;
      this.socket.end();
    } else if (opcode === 0x9) {
      this.writeFrame(0xa, payload);
    }
  }

  /** One frame, masked with a zero key (the payload goes as it is): one buffer, one write. */
  writeFrame(opcode, payload) {
    const len = typeof payload === "string" ? Buffer.byteLength(payload) : payload.length;
    const headLen = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const out = Buffer.allocUnsafe(headLen + len);
    out[0] = 0x80 | opcode;
    if (len < 126) out[1] = 0x80 | len;
    else if (len < 65536) {
      out[1] = 0x80 | 126;
      out.writeUInt16BE(len, 2);
    } else {
      out[1] = 0x80 | 127;
      out.writeBigUInt64BE(BigInt(len), 2);
    }
    out.writeUInt32BE(0, headLen - 4);
    if (typeof payload === "string") out.write(payload, headLen, "utf8");
    else payload.copy(out, headLen);
    this.socket.write(out);
  }

  send(text) {
    if (this.readyState === OPEN) this.writeFrame(0x1, text);
  }

  close(code = 1000) {
    if (this.readyState !== OPEN) {
      if (this.readyState === CONNECTING) this.terminate();
      return;
    }
    const p = Buffer.allocUnsafe(2);
    p.writeUInt16BE(code, 0);
    this.writeFrame(0x8, p);
    this.readyState = CLOSING;
    this.closeCode = code;
    // The server answers with its close frame and ends the connection; don't wait forever.
    setTimeout(() => this.socket.destroy(), 5000).unref();
  }

  terminate() {
    this.socket.destroy();
  }
}
