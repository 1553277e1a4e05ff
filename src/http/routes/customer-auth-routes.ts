import type { AuthService } from "../../auth/auth-service.js";
import { customerForIdentity } from "../../auth/customer-identity.js";
import { createSocialVerifier, type SocialProvider } from "../../auth/social-identity.js";
import { customerView, loadUser } from "../../auth/users.js";
import { notFound } from "../../errors.js";
import {
  idTokenBodySchema as idTokenBody,
  otpRequestBodySchema as otpRequestInput,
  otpVerifyBodySchema as otpVerifyInput,
  profileBodySchema as profileBody,
} from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { bearerToken, requirePrincipal } from "../auth-guard.js";
import { parseBody } from "../json-body.js";
import type { Router } from "../router.js";
import { sessionMeta } from "../session-meta.js";
import type { HttpRequest } from "../types.js";
import { otpServiceOf } from "./otp-per-gateway.js";

const SUB_COLUMN = { google: "google_sub", apple: "apple_sub" } as const;

/** /api/client/auth/*: phone codes, Google and Apple sign-in, the customer's own profile. */
export function registerCustomerAuthRoutes(router: Router, s: Services): void {
  const otp = otpServiceOf(s);
  const social = createSocialVerifier(
    {
      googleJwksUrl: s.config.GOOGLE_JWKS_URL,
      appleJwksUrl: s.config.APPLE_JWKS_URL,
      googleClientIds: s.config.GOOGLE_OAUTH_CLIENT_IDS,
      appleServicesId: s.config.APPLE_SERVICES_ID,
    },
    s.now,
  );

  router.post("/api/client/auth/otp/request", async (req) => {
    const body = parseBody(req, otpRequestInput);
    return { status: 200, body: await otp.request("customer", body.phone, req.ip) };
  });

  router.post("/api/client/auth/otp/verify", async (req) => {
    const body = parseBody(req, otpVerifyInput);
    const linkTo = await bearerCustomer(s.auth, req);
    const pair = await otp.verify("customer", body.requestId, body.code, async (tx, phone) => {
      const user = await customerForIdentity(tx, { column: "phone", value: phone }, linkTo, s.now());
      return (await s.auth.signIn(tx, user, sessionMeta(req))).pair;
    });
    return { status: 200, body: pair };
  });

  const socialRoute = (provider: SocialProvider) => async (req: HttpRequest) => {
    const body = parseBody(req, idTokenBody);
    const linkTo = await bearerCustomer(s.auth, req);
    const who = await social.verify(provider, body.idToken);
    const identity = {
      column: SUB_COLUMN[provider],
      value: who.sub,
      email: who.email,
      displayName: who.name,
    };
    const { pair } = await s.auth.signInWithIdentity(identity, linkTo, sessionMeta(req));
    return { status: 200, body: pair };
  };
  router.post("/api/client/auth/google", socialRoute("google"));
  router.post("/api/client/auth/apple", socialRoute("apple"));

  router.get("/api/client/auth/me", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    const user = await loadUser(s.pool, "customer", principal.userId);
    if (!user) throw notFound("No such customer");
    return { status: 200, body: user.view };
  });

  router.patch("/api/client/auth/profile", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    const body = parseBody(req, profileBody);
    const { rows } = await s.pool.query(
      "UPDATE customers SET display_name = $2, updated_at = $3 WHERE id = $1 RETURNING *",
      [principal.userId, body.displayName, s.now()],
    );
    if (!rows[0]) throw notFound("No such customer");
    return { status: 200, body: customerView(rows[0]) };
  });
}

/**
 * The customer whose Bearer came with a sign-in (the identity is linked to
 * it), or null without an Authorization header. A header that is there but bad
 * is refused, never silently ignored: the client meant to link.
 */
async function bearerCustomer(auth: AuthService, req: HttpRequest): Promise<string | null> {
  if (req.headers.authorization === undefined) return null;
  return (await auth.authenticate(bearerToken(req), ["customer"])).userId;
}
