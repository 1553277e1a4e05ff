import type { RouteHandler } from "./types.js";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

interface ParamRoute {
  segments: string[];
  handlers: Map<string, RouteHandler>;
}

export type RouteMatch =
  | { kind: "found"; handler: RouteHandler; params: Record<string, string> }
  | { kind: "method-not-allowed"; allowed: string[] }
  | { kind: "not-found" };

/**
 * Method + path router. Static paths are one map lookup (the hot heartbeat
 * route is static); `:name` segments match one path segment each. A known
 * path with another method is 405, an unknown path 404.
 */
export class Router {
  private readonly statics = new Map<string, Map<string, RouteHandler>>();
  private readonly dynamics: ParamRoute[] = [];

  add(method: Method, pattern: string, handler: RouteHandler): this {
    const segments = pattern.split("/");
    if (!segments.some((s) => s.startsWith(":"))) {
      const byMethod = this.statics.get(pattern) ?? new Map<string, RouteHandler>();
      if (byMethod.has(method)) throw new Error(`duplicate route ${method} ${pattern}`);
      byMethod.set(method, handler);
      this.statics.set(pattern, byMethod);
      return this;
    }
    let route = this.dynamics.find((r) => r.segments.join("/") === segments.join("/"));
    if (!route) {
      route = { segments, handlers: new Map() };
      this.dynamics.push(route);
    }
    if (route.handlers.has(method)) throw new Error(`duplicate route ${method} ${pattern}`);
    route.handlers.set(method, handler);
    return this;
  }

  get(pattern: string, h: RouteHandler): this {
    return this.add("GET", pattern, h);
  }
  post(pattern: string, h: RouteHandler): this {
    return this.add("POST", pattern, h);
  }
  put(pattern: string, h: RouteHandler): this {
    return this.add("PUT", pattern, h);
  }
  patch(pattern: string, h: RouteHandler): this {
    return this.add("PATCH", pattern, h);
  }
  delete(pattern: string, h: RouteHandler): this {
    return this.add("DELETE", pattern, h);
  }

  /** Every registered method and pattern (read-only; the API documents' completeness test compares them). */
  routes(): { method: string; pattern: string }[] {
    const out: { method: string; pattern: string }[] = [];
    for (const [pattern, byMethod] of this.statics)
      for (const method of byMethod.keys()) out.push({ method, pattern });
    for (const r of this.dynamics)
      for (const method of r.handlers.keys()) out.push({ method, pattern: r.segments.join("/") });
    return out;
  }

  match(method: string, path: string): RouteMatch {
    const byMethod = this.statics.get(path);
    if (byMethod) return pick(byMethod, method, {});

    const parts = path.split("/");
    for (const route of this.dynamics) {
      const params = matchSegments(route.segments, parts);
      if (params) return pick(route.handlers, method, params);
    }
    return { kind: "not-found" };
  }
}

function pick(
  handlers: Map<string, RouteHandler>,
  method: string,
  params: Record<string, string>,
): RouteMatch {
  const handler = handlers.get(method === "HEAD" ? "GET" : method);
  if (handler) return { kind: "found", handler, params };
  return { kind: "method-not-allowed", allowed: [...handlers.keys()] };
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const v = parts[i] as string;
    if (p.startsWith(":")) {
      if (v.length === 0) return null;
      try {
        params[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return null; // malformed %-escape: no such resource
      }
    } else if (p !== v) {
      return null;
    }
  }
  return params;
}
