import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import {
  type EmbeddedValkey,
  findValkeyBinary,
  startEmbeddedValkey,
} from "../../src/valkey/embedded-valkey.js";

/** A key and channel prefix of this test's own, on the shared Valkey. */
export function testPrefix(): string {
  return `t${randomBytes(4).toString("hex")}:`;
}

/**
 * A redis-server of the test's own on a free port, which the test may stop
 * and start again on the same port (never the machine's 6379).
 */
export class OwnValkey {
  private server: EmbeddedValkey | undefined;
  port = 0;

  static async start(): Promise<OwnValkey> {
    const v = new OwnValkey();
    await v.startAgain();
    return v;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async startAgain(): Promise<void> {
    const binary = findValkeyBinary(process.env.PATH);
    if (!binary) throw new Error("redis-server (or valkey-server) must be on PATH for the tests");
    this.server = await startEmbeddedValkey(binary, undefined, this.port || undefined);
    this.port = this.server.port;
  }

  /** kill -9 of the server process (no shutdown, nothing saved); `startAgain()` brings it back empty. */
  async crash(): Promise<void> {
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0 });
    probe.on("error", () => {});
    await probe.connect();
    const info = await probe.info("server");
    probe.disconnect();
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    if (!pid) throw new Error("no process_id in INFO server");
    process.kill(pid, "SIGKILL");
    // Its watchdog shell exits once the server is gone.
    await this.stop();
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }
}
