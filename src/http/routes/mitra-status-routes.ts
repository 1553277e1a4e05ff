import { noFieldsSchema as noFields } from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { parseBody } from "../json-body.js";
import type { Router } from "../router.js";

/** /api/mitra/status/*: presence of the signed-in mitra (the WebSocket frames call the same use cases). */
export function registerMitraStatusRoutes(router: Router, s: Services): void {
  const { status, heartbeats } = s.avail;

  router.post("/api/mitra/status/online", async (req) => {
    const me = await requirePrincipal(s.auth, req);
    parseBody(req, noFields);
    return { status: 200, body: await status.goOnline(me.userId) };
  });

  router.post("/api/mitra/status/offline", async (req) => {
    const me = await requirePrincipal(s.auth, req);
    parseBody(req, noFields);
    return { status: 200, body: await status.goOffline(me.userId) };
  });

  router.post("/api/mitra/status/heartbeat", async (req) => {
    const me = await requirePrincipal(s.auth, req);
    parseBody(req, noFields);
    await heartbeats.recordHeartbeat(me.userId);
    return { status: 204 };
  });
}
