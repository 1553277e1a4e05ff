import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";

/**
 * A WebSocket client over a bare TCP socket, for handshakes the `ws` package
 * will not send (e.g. `Connection: close`). It reads the HTTP answer, then
 * unmasked server frames; it sends masked text frames.
 */
export class RawWs {
  statusLine = "";
  /** The HTTP answer's body when the upgrade was refused. */
  body = "";
  readonly texts: string[] = [];
  /** Set when the TCP connection ended; `closeCode` when a close frame came first. */
  ended = false;
  closeCode: number | undefined;
  private buf = Buffer.alloc(0);
  private headDone = false;
  private waiters: (() => void)[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.wake();
    });
    socket.on("close", () => {
      this.ended = true;
      if (!this.headDone) this.statusLine = this.buf.toString("latin1").split("\r\n")[0] ?? "";
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async open(port: number, path: string, headers: Record<string, string>): Promise<RawWs> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const lines = [
      `GET ${path} HTTP/1.1`,
      "Host: 127.0.0.1",
      "Upgrade: websocket",
      `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}`,
      "Sec-WebSocket-Version: 13",
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
    return new RawWs(socket);
  }

  get status(): number {
    return Number(this.statusLine.split(" ")[1] ?? 0);
  }

  /** Waits until `cond` holds (checked on every byte received and at the end), or throws after timeoutMs. */
  async until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 20);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  sendText(text: string): void {
    const payload = Buffer.from(text, "utf8");
    if (payload.length > 125) throw new Error("RawWs sends short frames only");
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
    this.socket.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private parse(): void {
    if (!this.headDone) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString("latin1");
      this.statusLine = head.split("\r\n")[0] ?? "";
      this.headDone = true;
      this.buf = this.buf.subarray(end + 4);
      if (this.status !== 101) {
        this.body = this.buf.toString("utf8");
        return;
      }
    }
    if (this.status !== 101) {
      this.body = this.buf.toString("utf8");
      return;
    }
    for (;;) {
      if (this.buf.length < 2) return;
      const opcode = (this.buf[0] as number) & 0x0f;
      let len = (this.buf[1] as number) & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.buf.length < off + len) return;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      if (opcode === 1) this.texts.push(payload.toString("utf8"));
      if (opcode === 8) this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    }
  }
}
