import { z } from "zod";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { idempotentRoute } from "../idempotent-route.js";
import { parseBody, parseQuery } from "../json-body.js";
import type { Router } from "../router.js";

const listQuery = z.object({
  status: z.enum(["in_progress", "approved", "denied", "suspected", "expired"]).optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Mitra identity verification (contract §6): start, read, the provider's webhook, and the operators' list. */
export function registerVerificationRoutes(publicRouter: Router, internalRouter: Router, s: Services): void {
  publicRouter.post("/api/mitra/verification", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    return idempotentRoute(s.idempotency, req, principal, "POST /api/mitra/verification", async () => {
      parseBody(req, z.object({}).strict());
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
