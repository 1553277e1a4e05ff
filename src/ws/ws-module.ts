import type { TemplatedApp } from "uWebSockets.js";
import type { Services } from "../services.js";
import { Broadcasts } from "./broadcasts.js";
import { Fanout } from "./fanout.js";
import { PairingRedelivery } from "./pairing-redelivery.js";
import { CLOSE, SocketHub } from "./socket-hub.js";
import { mountWsEndpoint } from "./ws-endpoint.js";

/**
 * The WebSocket layer: `/ws` (customers, mitras) on the public app,
 * `/internal/ws` (operators) on the internal one, the socket hub, cross-process
 * fan-out, the availability and dashboard pushes, and revocation (sockets of a
 * revoked session get `revoked` and close 4003, on every process).
 */
/** At shutdown, how long a frame already taken may take to be answered before its socket closes anyway. */
const ANSWER_DEADLINE_MS = 3000;
/** At shutdown, time for frames that reached the socket before the signal to be read. */
const READ_GRACE_MS = 50;

export function buildWsLayer(s: Services, publicApp: TemplatedApp, internalApp: TemplatedApp) {
  const hub = new SocketHub(s.metrics, () => s.now().getTime());
  hub.addApp(publicApp);
  hub.addApp(internalApp);
  const fanout = new Fanout(s.pubsub, s.keys, hub, s.log, s.metrics);
  const broadcasts = new Broadcasts(s, hub, s.log);
  const redelivery = new PairingRedelivery(s, hub, s.log);
  const greet = (ws: Parameters<Broadcasts["greet"]>[0]) => {
    void broadcasts.greet(ws);
    void redelivery.greet(ws);
  };
  mountWsEndpoint(publicApp, s, hub, { path: "/ws", allowed: ["customer", "mitra"], greet });
  mountWsEndpoint(internalApp, s, hub, {
    path: "/internal/ws",
    allowed: ["cc"],
    greet,
    allowedOrigins: new Set(s.config.CC_ORIGINS),
  });
  const onRevoked = (sids: string[]) => hub.revoke(sids);
  // Push reachability: a user's first and last socket here, and "has a socket here" without Valkey.
  hub.onUserPresence = (userType, userId, present) =>
    s.push.reachability.userPresent(userType, userId, present);
  s.push.reachability.attachLocal({
    has: (userType, userId) => hub.hasUser(userType, userId),
    users: () =>
      (["customer", "mitra"] as const).flatMap((userType) =>
        hub.usersOf(userType).map((userId) => ({ userType, userId })),
      ),
  });
  s.notifier.attach((userType, userId, frame) => fanout.send({ kind: "user", userType, userId }, frame));

  return {
    hub,
    fanout,
    async start(): Promise<void> {
      s.revocations.on("revoked", onRevoked);
      await fanout.start();
      hub.start();
      broadcasts.start();
      redelivery.start();
    },
    /** Contract §8: sockets close with 1001 when the process stops, after the answers to frames they sent. */
    async stop(): Promise<void> {
      s.revocations.off("revoked", onRevoked);
      broadcasts.stop();
      redelivery.stop();
      hub.stop();
      // One short pause so frames already in the kernel's buffers are read and taken (then answered).
      await new Promise((r) => setTimeout(r, READ_GRACE_MS));
      await hub.closeAllAnswered(CLOSE.goingAway, "server shutting down", ANSWER_DEADLINE_MS);
    },
  };
}

export type WsLayer = ReturnType<typeof buildWsLayer>;
