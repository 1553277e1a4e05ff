import { notFound } from "../../errors.js";
import { presence } from "../../mirror/mitra-status.js";
import {
  testOtpQuerySchema as otpQuery,
  testPushQuerySchema as pushQuery,
  seedMitraBodySchema as seedMitraBody,
} from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { parseBody, parseQuery } from "../json-body.js";
import type { Router } from "../router.js";
import { otpServiceOf } from "./otp-per-gateway.js";

/**
 * /internal/_test/* (contract §8): shortcuts for end-to-end tests, mounted on
 * the internal listener only when ENABLE_TEST_ROUTES=true; otherwise the
 * paths do not exist (404). They take no token.
 */
export function registerTestRoutes(router: Router, s: Services): void {
  if (!s.config.ENABLE_TEST_ROUTES) return;
  s.log.warn(
    "ENABLE_TEST_ROUTES=true: /internal/_test/* is open without a token; never enable in production",
  );
  const otp = otpServiceOf(s);

  // Idempotent on phone: a second seed answers 200 with the first id and changes nothing.
  router.post("/internal/_test/seed-mitra", async (req) => {
    const body = parseBody(req, seedMitraBody);
    const phone = otp.normalise(body.phone);
    const now = s.now();
    const inserted = await s.pool.query<{
      id: string;
      is_online: boolean;
      is_active: boolean;
      status_version: string;
    }>(
      `INSERT INTO mitras (phone, display_name, is_active, verified_at, max_concurrent_sessions, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (phone) DO NOTHING RETURNING id, is_online, is_active, status_version`,
      [
        phone,
        body.displayName,
        body.isActive ?? true,
        body.verified ? now : null,
        body.maxConcurrentSessions ?? 1,
        now,
      ],
    );
    const created = inserted.rows[0];
    if (created) {
      // The mirror follows Postgres, as it does for a mitra created by an operator.
      await s.avail.mirror.setMax(created.id, body.maxConcurrentSessions ?? 1);
      await s.avail.mirror.setCapacities([{ mitraId: created.id, capacity: 0 }]);
      await s.avail.mirror.applyStatuses([presence(created)]);
      return { status: 201, body: { id: created.id } };
    }
    const existing = await s.pool.query<{ id: string }>("SELECT id FROM mitras WHERE phone = $1", [phone]);
    return { status: 200, body: { id: (existing.rows[0] as { id: string }).id } };
  });

  router.get("/internal/_test/otp", (req) => {
    const phone = otp.normalise(parseQuery(req, otpQuery).phone);
    const code = otp.provider.lastCode(phone);
    if (code === undefined) throw notFound("No code was sent to this phone by this process");
    return { status: 200, body: { code } };
  });

  router.get("/internal/_test/push", (req) => {
    const push = s.push.queue.lastPushTo(parseQuery(req, pushQuery).userId);
    if (push === undefined) throw notFound("No push was sent to this user by this process");
    return { status: 200, body: { platform: push.platform, token: push.token, data: push.data } };
  });
}
