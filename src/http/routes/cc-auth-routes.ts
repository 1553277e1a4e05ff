import type { TokenPair } from "../../auth/auth-service.js";
import { ensureFirstAdmin } from "../../auth/first-admin.js";
import { LoginLockout } from "../../auth/login-lockout.js";
import { OperatorLinks } from "../../auth/operator-links.js";
import { Operators } from "../../auth/operators.js";
import { PasswordHasher } from "../../auth/password-hasher.js";
import { refreshInvalid } from "../../auth/refresh-rotation.js";
import { AppError, notFound } from "../../errors.js";
import { createMailProvider } from "../../mail/create-mail-provider.js";
import { MailDispatcher } from "../../mail/mail-dispatcher.js";
import { lastLinkTo } from "../../mail/outbox.js";
import {
  acceptInviteBodySchema as acceptBody,
  passwordResetConfirmBodySchema as confirmBody,
  loginBodySchema as loginBody,
  testMailQuerySchema as mailQuery,
  passwordResetRequestBodySchema as resetRequestBody,
} from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { bearerToken, requirePrincipal } from "../auth-guard.js";
import {
  type CookiePolicy,
  clearedRefreshCookie,
  REFRESH_COOKIE,
  readCookie,
  refreshCookie,
} from "../cookies.js";
import { parseBody, parseQuery } from "../json-body.js";
import type { Router } from "../router.js";
import { sessionMeta } from "../session-meta.js";
import type { HttpRequest, HttpResponse } from "../types.js";
import { registerCcUserRoutes } from "./cc-user-routes.js";

/**
 * The control-center operator routes (contract §2 "Control center", §9) on
 * the internal listener, and the services behind them, built from the core.
 */
export function registerCcAuthRoutes(router: Router, s: Services): void {
  const hasher = new PasswordHasher({ concurrency: s.config.CC_PASSWORD_HASH_CONCURRENCY });
  const lockout = new LoginLockout(s.appConfig);
  const mail = new MailDispatcher(
    createMailProvider(s.config, { pool: s.pool, log: s.log, now: s.now }),
    s.log,
  );
  const links = new OperatorLinks({ ...s, hasher, lockout, mail, ccPublicUrl: () => s.links.ccPublicUrl });
  const operators = new Operators({ ...s, hasher, lockout, links, mail });
  const cookie: CookiePolicy = {
    secure: s.config.NODE_ENV !== "development",
    maxAgeSeconds: s.config.REFRESH_TOKEN_TTL_DAYS * 86_400,
  };

  const { ADMIN_EMAIL: email, ADMIN_PASSWORD: password } = s.config;
  if (email && password) {
    s.startTasks.push(() =>
      ensureFirstAdmin({ pool: s.pool, hasher, email, password, now: s.now, log: s.log }),
    );
  }
  s.stopTasks.push(() => mail.drain());

  const signedIn = (pair: TokenPair, extra: Record<string, unknown> = {}): HttpResponse => ({
    status: 200,
    body: { ...extra, accessToken: pair.accessToken, expiresIn: pair.expiresIn, user: pair.user },
    headers: { "set-cookie": refreshCookie(pair.refreshToken, cookie), "cache-control": "no-store" },
  });

  router.post("/internal/auth/login", async (req) => {
    const body = parseBody(req, loginBody);
    return signedIn(await operators.login(body.email, body.password, sessionMeta(req)));
  });

  router.post("/internal/auth/refresh", async (req) => {
    const token = readCookie(req.headers.cookie, REFRESH_COOKIE);
    if (!token) throw refreshInvalid();
    return signedIn(await s.auth.refresh(token, ["cc"]));
  });

  router.post("/internal/auth/logout", async (req) => {
    const sid = (await bearerSession(req)) ?? (await cookieSession(req));
    if (sid) await operators.endSession(sid);
    return { status: 204, headers: { "set-cookie": clearedRefreshCookie(cookie) } };
  });

  router.get("/internal/auth/me", async (req) => ({
    status: 200,
    body: await operators.me(await requirePrincipal(s.auth, req)),
  }));

  router.post("/internal/auth/password-reset/request", async (req) => {
    await links.requestReset(parseBody(req, resetRequestBody).email);
    return { status: 202, body: { accepted: true } };
  });

  router.post("/internal/auth/password-reset/confirm", async (req) => {
    const body = parseBody(req, confirmBody);
    return signedIn(await links.confirmReset(body.token, body.newPassword, sessionMeta(req)), {
      sessionEstablished: true,
    });
  });

  router.post("/internal/auth/accept-invite", async (req) => {
    const body = parseBody(req, acceptBody);
    return signedIn(await links.acceptInvite(body.token, body.password, sessionMeta(req)), {
      sessionEstablished: true,
    });
  });

  registerCcUserRoutes(router, { auth: s.auth, operators, idempotency: s.idempotency });

  if (s.config.ENABLE_TEST_ROUTES) {
    // Test only (contract §9): the link of the last mail to an address, without a token.
    router.get("/internal/_test/mail", async (req) => {
      const link = await lastLinkTo(s.pool, parseQuery(req, mailQuery).to);
      if (!link) throw notFound("No mail to this address");
      return { status: 200, body: { link } };
    });
  }

  /**
   * Logout prefers the bearer's session. A bearer that no longer verifies
   * (expired, revoked) falls back to the cookie: logging out must not fail
   * because the access token is stale. Another user type's token stays 403.
   */
  async function bearerSession(req: HttpRequest): Promise<string | null> {
    if (!bearerToken(req)) return null;
    try {
      return (await requirePrincipal(s.auth, req)).sid;
    } catch (err) {
      if (err instanceof AppError && err.code === "FORBIDDEN") throw err;
      return null;
    }
  }

  async function cookieSession(req: HttpRequest): Promise<string | null> {
    const token = readCookie(req.headers.cookie, REFRESH_COOKIE);
    return token ? operators.sessionOfRefreshToken(token) : null;
  }
}
