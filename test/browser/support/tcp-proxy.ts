import net from "node:net";

/**
 * A TCP forwarder on a port of its own, in front of a gateway's internal
 * listener: the page keeps one origin while the gateway behind it is
 * stopped and another started (on a new port; uWS cannot bind a port that
 * still has TIME_WAIT connections of its previous listener). While no target
 * is set, connections are refused at once (reset), as by a host whose
 * service is down.
 */
export class TcpProxy {
  private readonly server = net.createServer((client) => this.accept(client));
  private readonly open = new Set<net.Socket>();
  private targetPort: number | null;

  private constructor(targetPort: number) {
    this.targetPort = targetPort;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(targetPort);
    await new Promise<void>((resolve) => p.server.listen(0, "127.0.0.1", resolve));
    return p;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  /** Where new connections go (null: refuse them). Open connections stay with their old target. */
  setTarget(port: number | null): void {
    this.targetPort = port;
  }

  /** Cuts every open connection (a network blip): the page's socket drops without a close frame. */
  dropAll(): void {
    for (const s of this.open) s.resetAndDestroy();
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket): void {
    if (this.targetPort === null) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      this.open.add(s);
      s.on("close", () => this.open.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  }
}
