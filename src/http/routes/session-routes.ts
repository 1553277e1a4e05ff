import { notFound } from "../../errors.js";
import {
  extendBodySchema as extendBody,
  sessionListQuerySchema as listQuery,
  messagesQuerySchema as messagesQuery,
  noFieldsSchema as noFields,
} from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { isUuid } from "../../sessions/session-store.js";
import { requirePrincipal } from "../auth-guard.js";
import { idempotentRoute } from "../idempotent-route.js";
import { parseBody, parseQuery } from "../json-body.js";
import type { Router } from "../router.js";
import type { HttpRequest } from "../types.js";

/** A `:id` that is no uuid names no session: 404, as an unknown one (docs/sessions.md). */
function sessionIdOf(req: HttpRequest): string {
  const id = req.params.id as string;
  if (!isUuid(id)) throw notFound("No such session");
  return id;
}

/** Chat sessions and their messages (contract §5), for customers and mitras. */
export function registerSessionRoutes(router: Router, s: Services): void {
  router.post("/api/client/sessions/:id/payment", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    const id = sessionIdOf(req);
    return idempotentRoute(
      s.idempotency,
      req,
      principal,
      "POST /api/client/sessions/:id/payment",
      async () => {
        parseBody(req, noFields);
        return { status: 200, body: { session: await s.sessions.confirmPayment(principal, id) } };
      },
    );
  });

  router.post("/api/client/sessions/:id/extend", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    const id = sessionIdOf(req);
    return idempotentRoute(
      s.idempotency,
      req,
      principal,
      "POST /api/client/sessions/:id/extend",
      async () => {
        const { minutes } = parseBody(req, extendBody);
        return { status: 200, body: { session: await s.sessions.extend(principal, id, minutes) } };
      },
    );
  });

  for (const side of ["client", "mitra"] as const) {
    router.post(`/api/${side}/sessions/:id/end`, async (req) => {
      const principal = await requirePrincipal(s.auth, req);
      const id = sessionIdOf(req);
      parseBody(req, noFields);
      return { status: 200, body: { session: await s.sessions.end(principal, id) } };
    });

    router.get(`/api/${side}/sessions/:id`, async (req) => {
      const principal = await requirePrincipal(s.auth, req);
      return { status: 200, body: { session: await s.sessions.get(principal, sessionIdOf(req)) } };
    });

    router.get(`/api/${side}/sessions`, async (req) => {
      const principal = await requirePrincipal(s.auth, req);
      parseQuery(req, listQuery);
      return { status: 200, body: { items: await s.sessions.listOpen(principal) } };
    });

    router.get(`/api/${side}/sessions/:id/messages`, async (req) => {
      const principal = await requirePrincipal(s.auth, req);
      const id = sessionIdOf(req);
      const { after, limit } = parseQuery(req, messagesQuery);
      return { status: 200, body: await s.chat.list(principal, id, { limit, ...(after ? { after } : {}) }) };
    });
  }
}
