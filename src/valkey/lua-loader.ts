import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ValkeyClient } from "./client.js";

/**
 * Loads a Lua script that lives in its own file and defines it on the client
 * with ioredis `defineCommand` (EVALSHA, falling back to EVAL once). Scripts
 * take a variable number of keys: callers pass numkeys first.
 */
export function defineScript(client: ValkeyClient, name: string, fileUrl: URL): void {
  // The build copies src/**/*.lua into dist/ (scripts/copy-assets.mjs), so the same relative URL works from both.
  client.defineCommand(name, { lua: readFileSync(fileURLToPath(fileUrl), "utf8") });
}

/** Calls a script defined by `defineScript` with explicit keys and args. */
export function runScript(
  client: ValkeyClient,
  name: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<unknown> {
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[name];
  if (!fn) throw new Error(`Lua script ${name} is not defined`);
  return fn.call(client, keys.length, ...keys, ...args);
}
