import type { AuthService } from "../auth/auth-service.js";
import { type Principal, userTypesForPath } from "../auth/user-types.js";
import type { HttpRequest } from "./types.js";

/** The bearer token of a request (`Authorization: Bearer …`), if any. */
export function bearerToken(req: Pick<HttpRequest, "headers">): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** The signed-in principal; the path decides which user types it accepts (contract §2). */
export function requirePrincipal(auth: AuthService, req: HttpRequest): Promise<Principal> {
  return auth.authenticate(bearerToken(req), userTypesForPath(req.path));
}
