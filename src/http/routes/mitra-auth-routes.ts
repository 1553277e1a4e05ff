import { loadUser, mitraView, type UserView } from "../../auth/users.js";
import type { Queryable } from "../../db/pool.js";
import { AppError, notFound } from "../../errors.js";
import {
  otpRequestBodySchema as otpRequestInput,
  otpVerifyBodySchema as otpVerifyInput,
} from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { parseBody } from "../json-body.js";
import type { Router } from "../router.js";
import { sessionMeta } from "../session-meta.js";
import { otpServiceOf } from "./otp-per-gateway.js";

/** /api/mitra/auth/*: phone codes for mitras (created by the control center only) and the mitra's own profile. */
export function registerMitraAuthRoutes(router: Router, s: Services): void {
  const otp = otpServiceOf(s);

  router.post("/api/mitra/auth/otp/request", async (req) => {
    const body = parseBody(req, otpRequestInput);
    return { status: 200, body: await otp.request("mitra", body.phone, req.ip) };
  });

  router.post("/api/mitra/auth/otp/verify", async (req) => {
    const body = parseBody(req, otpVerifyInput);
    const pair = await otp.verify("mitra", body.requestId, body.code, async (tx, phone) => {
      const user = await activeMitraByPhone(tx, phone);
      return (await s.auth.signIn(tx, user, sessionMeta(req))).pair;
    });
    return { status: 200, body: pair };
  });

  router.get("/api/mitra/auth/me", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    const user = await loadUser(s.pool, "mitra", principal.userId);
    if (!user) throw notFound("No such mitra");
    return { status: 200, body: user.view };
  });
}

/**
 * The mitra a verified phone signs in as. A code for an unknown phone never
 * verifies (OtpService), so a missing row here means the mitra went away
 * between request and verify: refused like a deactivated one.
 */
async function activeMitraByPhone(tx: Queryable, phone: string): Promise<UserView> {
  const { rows } = await tx.query("SELECT * FROM mitras WHERE phone = $1", [phone]);
  const row = rows[0];
  if (!row?.is_active) throw new AppError("ACCOUNT_INACTIVE", 403, "This account is deactivated");
  return mitraView(row);
}
