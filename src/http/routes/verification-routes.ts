import { verificationListQuerySchema as listQuery, noFieldsSchema } from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { idempotentRoute } from "../idempotent-route.js";
import { parseBody, parseQuery } from "../json-body.js";
import type { Router } from "../router.js";

/** Mitra identity verification (contract §6): start, read, the provider's webhook, and the operators' list. */
export function registerVerificationRoutes(publicRouter: Router, internalRouter: Router, s: Services): void {
  publicRouter.post("/api/mitra/verification", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    return idempotentRoute(s.idempotency, req, principal, "POST /api/mitra/verification", async () => {
      parseBody(req, noFieldsSchema);
      return { status: 200, body: await s.verifications.start(principal.userId) };
    });
  });

  publicRouter.get("/api/mitra/verification", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    return { status: 200, body: await s.verifications.status(principal.userId) };
  });

  // The raw bytes are what is signed: the body is read once (bounded by the router's 64 KiB cap) and parsed after.
  publicRouter.post("/webhooks/idenfy", async (req) => {
    await s.verifications.webhook(req.body, req.headers["idenfy-signature"]);
    return { status: 200, body: {} };
  });

  internalRouter.get("/internal/verifications", async (req) => {
    await requirePrincipal(s.auth, req);
    return { status: 200, body: await s.verifications.list(parseQuery(req, listQuery)) };
  });
}
