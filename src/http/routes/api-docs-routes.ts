import { buildAsyncApi } from "../../api-docs/asyncapi.js";
import { buildOpenApi } from "../../api-docs/openapi.js";
import type { Router } from "../router.js";
import type { HttpResponse } from "../types.js";

/**
 * GET /internal/docs/openapi.json and /internal/docs/asyncapi.json: the API
 * documents, generated from the protocol module once per process on first
 * request (the same bytes as docs/api/, which a test keeps in step). No
 * token: they describe the interface, not its data, as the checked-in files do.
 */
export function registerApiDocsRoutes(router: Router): void {
  const serve = (build: () => unknown) => {
    let cached: string | undefined;
    return (): HttpResponse => {
      cached ??= JSON.stringify(build());
      return {
        status: 200,
        raw: { contentType: "application/json; charset=utf-8", data: cached },
        headers: { "cache-control": "no-cache" },
      };
    };
  };
  router.get("/internal/docs/openapi.json", serve(buildOpenApi));
  router.get("/internal/docs/asyncapi.json", serve(buildAsyncApi));
}
