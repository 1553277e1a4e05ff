/**
 * The protocol of halo-gateway: the zod schemas of every HTTP body, query and
 * answer, every WebSocket frame in both directions, and every error code. The
 * server validates with these, the SDK types with them, and the API documents
 * (docs/api/) are generated from them. Pure data: zod is the only import.
 */
export * from "./auth-schemas.js";
export * from "./availability-schemas.js";
export * from "./client-frames.js";
export * from "./common.js";
export * from "./device-schemas.js";
export * from "./errors.js";
export * from "./internal-routes.js";
export * from "./operator-schemas.js";
export * from "./ops-schemas.js";
export * from "./public-routes.js";
export * from "./route-spec.js";
export * from "./routes.js";
export * from "./server-frames.js";
export * from "./session-schemas.js";
export * from "./types.js";
export * from "./verification-schemas.js";
