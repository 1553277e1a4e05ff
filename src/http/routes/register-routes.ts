import type { Services } from "../../services.js";
import type { Router } from "../router.js";
import { registerApiDocsRoutes } from "./api-docs-routes.js";
import { registerAvailabilityRoutes } from "./availability-routes.js";
import { registerCcAuthRoutes } from "./cc-auth-routes.js";
import { registerCcConfigRoutes } from "./cc-config-routes.js";
import { registerCcMitraRoutes } from "./cc-mitra-routes.js";
import { registerCcSessionRoutes } from "./cc-session-routes.js";
import { registerControlCenterRoutes } from "./control-center-routes.js";
import { registerCustomerAuthRoutes } from "./customer-auth-routes.js";
import { registerDeviceRoutes } from "./device-routes.js";
import { registerMitraAuthRoutes } from "./mitra-auth-routes.js";
import { registerMitraStatusRoutes } from "./mitra-status-routes.js";
import { registerPairingRoutes } from "./pairing-routes.js";
import { registerSessionRoutes } from "./session-routes.js";
import { registerSharedAuthRoutes } from "./shared-auth-routes.js";
import { registerTestRoutes } from "./test-routes.js";
import { registerVerificationRoutes } from "./verification-routes.js";

/** Every feature route group, on the listener the contract puts it on. */
export function registerRoutes(publicRouter: Router, internalRouter: Router, s: Services): void {
  registerSharedAuthRoutes(publicRouter, s);
  registerCustomerAuthRoutes(publicRouter, s);
  registerMitraAuthRoutes(publicRouter, s);
  registerTestRoutes(internalRouter, s);
  registerCcAuthRoutes(internalRouter, s);
  registerMitraStatusRoutes(publicRouter, s);
  registerAvailabilityRoutes(publicRouter, s);
  registerPairingRoutes(publicRouter, s);
  registerVerificationRoutes(publicRouter, internalRouter, s);
  registerControlCenterRoutes(internalRouter);
  registerCcSessionRoutes(internalRouter, s);
  registerSessionRoutes(publicRouter, s);
  registerDeviceRoutes(publicRouter, s);
  registerCcMitraRoutes(internalRouter, s);
  registerCcConfigRoutes(internalRouter, s);
  registerApiDocsRoutes(internalRouter);
}
