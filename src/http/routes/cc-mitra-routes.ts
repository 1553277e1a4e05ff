import { normalisePhone } from "../../auth/phone.js";
import { dashboardCounts } from "../../mirror/dashboard-counts.js";
import {
  mitraCreateBodySchema as createBody,
  mitraListQuerySchema as listQuery,
  mitraPatchBodySchema as patchBody,
} from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { idempotentRoute } from "../idempotent-route.js";
import { parseBody, parseQuery } from "../json-body.js";
import type { Router } from "../router.js";

/** /internal/mitras and /internal/dashboard/counts (operators). */
export function registerCcMitraRoutes(router: Router, s: Services): void {
  const { admin, availability } = s.avail;

  router.get("/internal/mitras", async (req) => {
    await requirePrincipal(s.auth, req);
    const { q, ...rest } = parseQuery(req, listQuery);
    const search = q ? { q, phoneDigits: phoneDigitsOf(q, s.config.DEFAULT_COUNTRY_CODE) } : {};
    return { status: 200, body: await admin.list({ ...rest, ...search }) };
  });

  router.post("/internal/mitras", async (req) => {
    const principal = await requirePrincipal(s.auth, req);
    return idempotentRoute(s.idempotency, req, principal, "POST /internal/mitras", async () => {
      const body = parseBody(req, createBody);
      const phone = normalisePhone(body.phone, s.config.DEFAULT_COUNTRY_CODE);
      return { status: 201, body: await admin.create({ ...body, phone }) };
    });
  });

  router.patch("/internal/mitras/:id", async (req) => {
    await requirePrincipal(s.auth, req);
    return { status: 200, body: await admin.patch(req.params.id as string, parseBody(req, patchBody)) };
  });

  router.get("/internal/mitras/:id/log", async (req) => {
    await requirePrincipal(s.auth, req);
    return { status: 200, body: await admin.log(req.params.id as string) };
  });

  router.get("/internal/dashboard/history", async (req) => {
    await requirePrincipal(s.auth, req);
    return { status: 200, body: { points: s.dashboardHistory.get() } };
  });

  router.get("/internal/dashboard/counts", async (req) => {
    await requirePrincipal(s.auth, req);
    return { status: 200, body: await dashboardCounts(availability, s.pool) };
  });
}

/**
 * What a phone-like search matches in the stored E.164 number: its digits,
 * and, when they start with 0, also with that 0 read as a national trunk
 * prefix (the default country code), so an operator who types `0812 345`
 * finds `+62812345…` and one who types the last digits `024368` finds
 * `…9024368` (a name search is unaffected).
 */
function phoneDigitsOf(q: string, defaultCountryCode: number): string[] | undefined {
  if (!/^\+?[0-9 ().-]+$/.test(q)) return undefined;
  const digits = q.replace(/\D/g, "");
  if (digits.length === 0) return undefined;
  return !q.startsWith("+") && digits.startsWith("0")
    ? [digits, `${defaultCountryCode}${digits.slice(1)}`]
    : [digits];
}
