import { INTERNAL_ROUTES } from "./internal-routes.js";
import { PUBLIC_ROUTES } from "./public-routes.js";
import type { HttpMethod, RouteSpec } from "./route-spec.js";

/** Every HTTP route the gateway serves, on both listeners: what the OpenAPI document is generated from. */
export const ROUTES: readonly RouteSpec[] = [...PUBLIC_ROUTES, ...INTERNAL_ROUTES];

/** The route of a method and router pattern (`/api/client/sessions/:id`), if there is one. */
export function findRoute(method: HttpMethod, path: string): RouteSpec | undefined {
  return ROUTES.find((r) => r.method === method && r.path === path);
}
