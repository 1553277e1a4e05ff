import type { AuthService } from "../../auth/auth-service.js";
import {
  anonymousBodySchema as anonymousBody,
  refreshBodySchema as refreshBody,
} from "../../protocol/index.js";
import { requirePrincipal } from "../auth-guard.js";
import { parseBody } from "../json-body.js";
import type { Router } from "../router.js";
import { sessionMeta } from "../session-meta.js";

/** /api/shared/auth/*: anonymous sign-in, refresh, logout (customers and mitras). */
export function registerSharedAuthRoutes(router: Router, d: { auth: AuthService }): void {
  router.post("/api/shared/auth/anonymous", async (req) => {
    const body = parseBody(req, anonymousBody);
    const { pair } = await d.auth.signInAnonymous(body.displayName ?? null, sessionMeta(req));
    return { status: 201, body: pair };
  });

  router.post("/api/shared/auth/refresh", async (req) => {
    const body = parseBody(req, refreshBody);
    return { status: 200, body: await d.auth.refresh(body.refreshToken, ["customer", "mitra"]) };
  });

  router.post("/api/shared/auth/logout", async (req) => {
    await d.auth.logout(await requirePrincipal(d.auth, req));
    return { status: 204 };
  });

  router.post("/api/shared/auth/logout-all", async (req) => {
    await d.auth.logoutAll(await requirePrincipal(d.auth, req));
    return { status: 204 };
  });
}
