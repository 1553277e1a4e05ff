import type { Services } from "../../services.js";
import type { Router } from "../router.js";
import { registerSharedAuthRoutes } from "./shared-auth-routes.js";

/** Every feature route group, on the listener the contract puts it on. */
export function registerRoutes(publicRouter: Router, internalRouter: Router, s: Services): void {
  registerSharedAuthRoutes(publicRouter, s);
  void internalRouter;
}
