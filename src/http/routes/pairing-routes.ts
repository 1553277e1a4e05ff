import { notFound } from "../../errors.js";
import { uuidSchema as uuid } from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import type { Router } from "../router.js";

/** GET /api/client/pairing/:requestId — a client that reconnects mid-request reads where it stands. */
export function registerPairingRoutes(router: Router, s: Services): void {
  router.get("/api/client/pairing/:requestId", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    const id = req.params.requestId ?? "";
    // Not a UUID cannot name a request: the same 404 as someone else's (no disclosure).
    if (!uuid.safeParse(id).success) throw notFound("No such pairing request");
    return { status: 200, body: await s.pairing.status(principal.userId, id) };
  });
}
