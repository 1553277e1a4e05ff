import { operatorSessionListQuerySchema as listQuery } from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { parseQuery } from "../json-body.js";
import type { Router } from "../router.js";

/** GET /internal/sessions: the open chat sessions, with their state and age, for operators. */
export function registerCcSessionRoutes(router: Router, s: Services): void {
  router.get("/internal/sessions", async (req) => {
    await requirePrincipal(s.auth, req);
    return { status: 200, body: await s.sessions.listForOperators(parseQuery(req, listQuery)) };
  });
}
