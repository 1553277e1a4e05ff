import { deviceBodySchema as deviceBody } from "../../protocol/index.js";
import type { Services } from "../../services.js";
import { requirePrincipal } from "../auth-guard.js";
import { parseBody } from "../json-body.js";
import type { Router } from "../router.js";

/** /api/{client,mitra}/devices: the push token of the signed-in device (contract §11). */
export function registerDeviceRoutes(router: Router, s: Pick<Services, "auth" | "devices">): void {
  for (const side of ["client", "mitra"] as const) {
    router.post(`/api/${side}/devices`, async (req) => {
      const me = await requirePrincipal(s.auth, req);
      const body = parseBody(req, deviceBody);
      await s.devices.register(me, body.platform, body.token);
      return { status: 204 };
    });

    router.delete(`/api/${side}/devices/current`, async (req) => {
      const me = await requirePrincipal(s.auth, req);
      await s.devices.removeCurrent(me.sid);
      return { status: 204 };
    });
  }
}
