import { z } from "zod";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { parseQuery } from "../json-body.js";
import type { Router } from "../router.js";

const listQuery = z.object({
  status: z.enum(["pending_payment", "active"]).optional(),
  cursor: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** GET /internal/sessions: the open chat sessions, with their state and age, for operators. */
export function registerCcSessionRoutes(router: Router, s: Services): void {
  router.get("/internal/sessions", async (req) => {
    await requirePrincipal(s.auth, req);
    return { status: 200, body: await s.sessions.listForOperators(parseQuery(req, listQuery)) };
  });
}
