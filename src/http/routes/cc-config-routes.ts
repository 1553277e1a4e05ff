import { z } from "zod";
import { writeTunables } from "../../app-config/app-config-writes.js";
import { requireAdmin } from "../../auth/operator-store.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { parseBody } from "../json-body.js";
import type { Router } from "../router.js";

/**
 * GET/PATCH /internal/config (admin): the app_config tunables. A change is
 * announced on the config channel so every process drops its cache at once;
 * the 2 s cache alone would already apply it everywhere within 5 s.
 */
export function registerCcConfigRoutes(router: Router, s: Services): void {
  void s.pubsub.subscribe(s.keys.channel.config, () => s.appConfig.invalidate());
  void s.pubsub.subscribeLegacy(s.keys.channel.legacy.config, () => s.appConfig.invalidate());

  router.get("/internal/config", async (req) => {
    await requireAdmin(s.pool, await requirePrincipal(s.auth, req));
    return { status: 200, body: await s.appConfig.get() };
  });

  router.patch("/internal/config", async (req) => {
    await requireAdmin(s.pool, await requirePrincipal(s.auth, req));
    // The body as parsed (writeTunables checks it is an object): a zod record would rebuild it and
    // turn a `__proto__` key into a prototype instead of refusing it as an unknown setting.
    await writeTunables(s.pool, parseBody(req, z.unknown()), s.now());
    s.appConfig.invalidate();
    await s.pubsub
      .publish(s.keys.channel.config, { v: 1, kind: "config_changed" })
      .catch((err: Error) => s.log.warn({ err: err.message }, "could not announce a config change"));
    return { status: 200, body: await s.appConfig.get() };
  });
}
