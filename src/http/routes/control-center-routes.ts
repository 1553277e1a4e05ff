import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import { notFound } from "../../errors.js";
import type { Router } from "../router.js";
import type { HttpResponse } from "../types.js";

/** The built web app (scripts/build-web.mjs writes it; the same path from src/ and from dist/). */
const WEB_ROOT = fileURLToPath(new URL("../../../dist/web/", import.meta.url));

/** No inline script or style, nothing from another origin, never framed (contract §10). */
export const CC_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; " +
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  // The link pages carry a one-time token in their address: never leak it in a Referer.
  "referrer-policy": "no-referrer",
};

const TYPES: Record<string, string> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
};

/** Hashed asset names: the file behind a name never changes. */
const ASSET_NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.(js|css|map|svg|png|woff2)$/;

/**
 * Serves the control-center page at /internal/ (and the two link pages) with
 * `index.html` never cached, and its assets under /internal/app/ cached for
 * a year (their names carry a content hash).
 */
export function registerControlCenterRoutes(router: Router): void {
  const files = new Map<string, Buffer>();
  const load = async (name: string): Promise<Buffer | null> => {
    const cached = files.get(name);
    if (cached) return cached;
    try {
      const data = await readFile(`${WEB_ROOT}${name}`);
      files.set(name, data);
      return data;
    } catch {
      return null;
    }
  };

  const page = async (): Promise<HttpResponse> => {
    const html = await load("index.html");
    if (!html) throw notFound("The control center is not built (npm run build)");
    return {
      status: 200,
      raw: { contentType: "text/html; charset=utf-8", data: html },
      headers: { ...CC_SECURITY_HEADERS, "cache-control": "no-cache" },
    };
  };
  router.get("/internal", () => ({ status: 302, headers: { location: "/internal/" } }));
  router.get("/internal/", page);
  router.get("/internal/accept-invite", page);
  router.get("/internal/reset-password", page);

  router.get("/internal/app/:file", async (req) => {
    const name = req.params.file ?? "";
    const type = TYPES[extname(name)];
    const data = ASSET_NAME.test(name) && type ? await load(`app/${name}`) : null;
    if (!data || !type) throw notFound("No such asset");
    return {
      status: 200,
      raw: { contentType: type, data },
      headers: { ...CC_SECURITY_HEADERS, "cache-control": "public, max-age=31536000, immutable" },
    };
  });
}
