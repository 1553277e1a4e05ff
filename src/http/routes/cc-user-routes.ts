import type { AuthService } from "../../auth/auth-service.js";
import type { Operators } from "../../auth/operators.js";
import type { Idempotency } from "../../idempotency/idempotency.js";
import {
  operatorCreateBodySchema as createBody,
  forcedPasswordBodySchema as forcedPasswordBody,
  ownPasswordBodySchema as ownPasswordBody,
  operatorRoleBodySchema as roleBody,
} from "../../protocol/index.js";
import { requirePrincipal } from "../auth-guard.js";
import { idempotentRoute } from "../idempotent-route.js";
import { parseBody } from "../json-body.js";
import type { Router } from "../router.js";

/** /internal/control-center-users: accounts and passwords (contract §2, §9). */
export function registerCcUserRoutes(
  router: Router,
  d: { auth: AuthService; operators: Operators; idempotency: Idempotency },
): void {
  router.post("/internal/control-center-users", async (req) => {
    const principal = await requirePrincipal(d.auth, req);
    return idempotentRoute(d.idempotency, req, principal, "POST /internal/control-center-users", async () => {
      const body = parseBody(req, createBody);
      return { status: 201, body: await d.operators.create(principal, body) };
    });
  });

  router.get("/internal/control-center-users", async (req) => {
    const principal = await requirePrincipal(d.auth, req);
    return { status: 200, body: await d.operators.list(principal) };
  });

  router.patch("/internal/control-center-users/:id", async (req) => {
    const principal = await requirePrincipal(d.auth, req);
    const { role } = parseBody(req, roleBody);
    return { status: 200, body: await d.operators.setRole(principal, req.params.id ?? "", role) };
  });

  // Static, so the router matches it before the `:id` pattern below.
  router.put("/internal/control-center-users/me/password", async (req) => {
    const principal = await requirePrincipal(d.auth, req);
    const body = parseBody(req, ownPasswordBody);
    await d.operators.changeOwnPassword(principal, body.currentPassword, body.newPassword);
    return { status: 204 };
  });

  router.put("/internal/control-center-users/:id/password", async (req) => {
    const principal = await requirePrincipal(d.auth, req);
    const body = parseBody(req, forcedPasswordBody);
    await d.operators.forceReset(principal, req.params.id as string, body.newPassword);
    return { status: 204 };
  });
}
