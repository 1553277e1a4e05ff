import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";

/**
 * A TCP proxy between a client and a gateway, to make the network fail the
 * way phones see it: `cut()` drops every connection (RST), `refuse(true)`
 * turns new connections away (no route), `delay(ms)` holds every chunk,
 * `blackhole(true)` swallows traffic both ways while connections look open
 * (no FIN, no RST: only a timeout can tell). `accepted` counts connections.
 *
 * Given several targets it is a load balancer in front of a deployment's
 * processes: new connections go round-robin, and a target that refuses the
 * connection (a killed process) is skipped for the next one, as a balancer's
 * connect retry does. Connections already open to a dead target die with it.
 */
export class TcpProxy {
  /** Connections accepted so far (refused ones included). */
  accepted = 0;
  private readonly pairs = new Map<[Socket, Socket], number>();
  private refusing = false;
  private holeOn = false;
  private delayMs = 0;
  private targets: { host: string; port: number }[];
  private nextTarget = 0;

  private constructor(
    private readonly server: Server,
    targets: (string | number)[],
  ) {
    this.targets = targets.map(parseTarget);
  }

  /**
   * Listens on a free loopback port and forwards to `target` (`http://127.0.0.1:8080` or a port),
   * or round-robin to each of several targets.
   */
  static async start(target: string | number | (string | number)[], listenPort = 0): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, Array.isArray(target) ? target : [target]);
    server.on("connection", (client) => proxy.onConnection(client));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listenPort, "127.0.0.1", () => resolve());
    });
    return proxy;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === "object" && a ? a.port : 0;
  }

  /** `http://127.0.0.1:<proxy port>`: give this to the client instead of the gateway's URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Open connections right now. */
  get open(): number {
    return this.pairs.size;
  }

  /** Open connections to one target (a port or URL) right now. */
  openTo(target: string | number): number {
    const port = parseTarget(target).port;
    let n = 0;
    for (const p of this.pairs.values()) if (p === port) n++;
    return n;
  }

  /** Points new connections at another port (a gateway started again elsewhere). */
  retarget(target: string | number): void {
    this.targets = [parseTarget(target)];
  }

  /** Drops every open connection at once, as a lost network does (both ends see a reset). */
  cut(): void {
    for (const [a, b] of this.pairs.keys()) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /** While on, new connections are reset as soon as they arrive. */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /** Holds every chunk, both ways, this long (order kept). */
  delay(ms: number): void {
    this.delayMs = ms;
  }

  /** While on, nothing is forwarded either way and nothing is closed. */
  blackhole(on: boolean): void {
    this.holeOn = on;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(client: Socket): void {
    this.accepted++;
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    // Held until an upstream takes it; a client gone meanwhile must not throw an unhandled error.
    client.pause();
    client.on("error", () => client.destroy());
    this.connectUpstream(client, this.targets.length);
  }

  /** The next target in turn; one that refuses is skipped, up to `triesLeft` targets. */
  private connectUpstream(client: Socket, triesLeft: number): void {
    const target = this.targets[this.nextTarget++ % this.targets.length] as { host: string; port: number };
    const upstream = tcpConnect(target.port, target.host);
    const refused = () => {
      upstream.destroy();
      if (triesLeft > 1 && !client.destroyed) this.connectUpstream(client, triesLeft - 1);
      else client.resetAndDestroy();
    };
    upstream.once("error", refused);
    upstream.once("connect", () => {
      upstream.off("error", refused);
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.set(pair, target.port);
      const drop = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", drop);
      upstream.on("error", drop);
      client.on("close", drop);
      upstream.on("close", drop);
      this.forward(client, upstream);
      this.forward(upstream, client);
      client.resume();
    });
  }

  private forward(from: Socket, to: Socket): void {
    let nextAt = 0;
    from.on("data", (chunk: Buffer) => {
      if (this.holeOn) return;
      if (this.delayMs <= 0 && nextAt <= Date.now()) {
        to.write(chunk);
        return;
      }
      // Chunks keep their order: none is written before the one ahead of it.
      nextAt = Math.max(Date.now() + this.delayMs, nextAt);
      setTimeout(() => {
        if (!to.destroyed) to.write(chunk);
      }, nextAt - Date.now());
    });
  }
}

function parseTarget(target: string | number): { host: string; port: number } {
  if (typeof target === "number") return { host: "127.0.0.1", port: target };
  const u = new URL(target);
  return { host: u.hostname, port: Number(u.port) };
}
