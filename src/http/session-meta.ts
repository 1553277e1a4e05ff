import type { SessionMeta } from "../auth/auth-sessions.js";
import type { HttpRequest } from "./types.js";

/** What an auth session records about the device that signed in. */
export const sessionMeta = (req: HttpRequest): SessionMeta => ({
  userAgent: req.headers["user-agent"],
  ip: req.ip,
});
