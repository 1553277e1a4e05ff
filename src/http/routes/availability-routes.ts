import type { Services } from "../../services.js";
import type { Router } from "../router.js";

/** The public availability beacon: no token needed (contract §3). */
export function registerAvailabilityRoutes(router: Router, s: Services): void {
  router.get("/api/client/availability", async () => ({ status: 200, body: await s.avail.beacon.current() }));
}
