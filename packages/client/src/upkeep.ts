import type { AccessTokenSource } from "./auth.js";
import { type Connection, isSessionOver, later } from "./connection.js";
import { ClientCode, HaloError } from "./errors.js";
import type { ClientFrames, ClientFrameType, HelloFrame } from "./protocol.js";

/** What the upkeep of an open connection needs of its socket. */
export interface UpkeepPort {
  auth: AccessTokenSource;
  now(): number;
  requestTimeoutMs: number;
  request<T extends ClientFrameType>(
    type: T,
    fields: ClientFrames[T]["frame"],
    opts?: { timeoutMs?: number },
  ): Promise<ClientFrames[T]["ack"]>;
  /** Whether `conn` is still the socket's current connection. */
  isCurrent(conn: Connection): boolean;
  /** Gives up on a connection that no longer answers (then reconnects). */
  drop(conn: Connection, reason: string): void;
  /** The auth session ended: stop for good. */
  sessionOver(err: HaloError): void;
  heartbeatAcked(): void;
  reportError(err: HaloError): void;
}

export interface UpkeepOptions {
  heartbeat: boolean;
  idleProbeMs: number;
  refreshAheadMs: number;
}

/**
 * What keeps an open connection alive and authorized: the mitra's heartbeat,
 * a probe of a silent connection, and the in-band refresh before the access
 * token expires. Every timer dies with the connection.
 */
export function startUpkeep(
  port: UpkeepPort,
  conn: Connection,
  hello: HelloFrame,
  opts: UpkeepOptions,
): void {
  if (opts.heartbeat && hello.heartbeatIntervalSeconds > 0)
    heartbeat(port, conn, hello.heartbeatIntervalSeconds * 1000);
  if (opts.idleProbeMs > 0) probe(port, conn, opts.idleProbeMs);
  refreshInBand(port, conn, hello, opts.refreshAheadMs);
}

function heartbeat(port: UpkeepPort, conn: Connection, everyMs: number): void {
  later(conn, everyMs, async () => {
    if (!port.isCurrent(conn)) return;
    heartbeat(port, conn, everyMs);
    try {
      await port.request("heartbeat", {}, { timeoutMs: Math.min(port.requestTimeoutMs, everyMs) });
      port.heartbeatAcked();
    } catch (err) {
      if (!port.isCurrent(conn)) return;
      // No answer on an open socket: the path is dead even if TCP has not noticed.
      if (err instanceof HaloError && err.code === ClientCode.timeout)
        return port.drop(conn, "heartbeat unanswered");
      if (err instanceof HaloError) port.reportError(err);
    }
  });
}

/**
 * A connection silent for idleMs is asked for an answer: `auth.refresh` with
 * the token it already runs on is the lightest frame every user type may
 * send. No answer within the request timeout → the connection is dropped.
 */
function probe(port: UpkeepPort, conn: Connection, idleMs: number): void {
  later(conn, conn.lastFrameAt + idleMs - port.now(), async () => {
    if (!port.isCurrent(conn)) return;
    if (port.now() - conn.lastFrameAt < idleMs) return probe(port, conn, idleMs);
    if ((await probeOnce(port, conn)) && port.isCurrent(conn)) probe(port, conn, idleMs);
  });
}

/**
 * One probe of `conn`: false when it gave no answer in time (it is then
 * dropped, and the socket reconnects) or is gone; any answer, even an error
 * frame, proves the path alive.
 */
export async function probeOnce(port: UpkeepPort, conn: Connection, timeoutMs?: number): Promise<boolean> {
  try {
    await port.request(
      "auth.refresh",
      { accessToken: conn.token.token },
      timeoutMs === undefined ? {} : { timeoutMs },
    );
  } catch (err) {
    if (!port.isCurrent(conn)) return false;
    if (err instanceof HaloError && err.code === ClientCode.timeout) {
      port.drop(conn, "probe unanswered");
      return false;
    }
  }
  return port.isCurrent(conn);
}

/** Shortly before expiry: one refresh (shared with every other caller), then `auth.refresh` on this socket. */
function refreshInBand(port: UpkeepPort, conn: Connection, hello: HelloFrame, aheadMs: number): void {
  const expiresAt = conn.token.expiresAt ?? Date.parse(hello.accessExpiresAt);
  if (!Number.isFinite(expiresAt)) return;
  const left = expiresAt - port.now();
  later(conn, left - Math.min(aheadMs, left / 2), async () => {
    if (!port.isCurrent(conn)) return;
    try {
      const fresh = await port.auth.refreshAccessToken(conn.token);
      if (!port.isCurrent(conn)) return;
      const ack = await port.request("auth.refresh", { accessToken: fresh.token });
      if (!port.isCurrent(conn)) return;
      conn.token =
        fresh.expiresAt === undefined ? { ...fresh, expiresAt: Date.parse(ack.accessExpiresAt) } : fresh;
      refreshInBand(port, conn, hello, aheadMs);
    } catch (err) {
      if (!port.isCurrent(conn)) return;
      if (isSessionOver(err)) return port.sessionOver(err as HaloError);
      // Another user signed in on this client: this connection belongs to the old one.
      if (err instanceof HaloError && err.code === "FORBIDDEN")
        return port.drop(conn, "signed in as another user");
      // Transient: again shortly; if the token runs out first, the server closes 4001 and we reconnect.
      later(conn, 2000, () => refreshInBand(port, conn, hello, aheadMs));
    }
  });
}
