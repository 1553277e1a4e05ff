// Writes docs/api/openapi.json (HTTP, OpenAPI 3.1) and docs/api/asyncapi.json (WebSocket
// frames, AsyncAPI 3.0) from the protocol module's zod schemas, as compiled to dist/ by
// `npm run docs:api`. The gateway serves the same documents at /internal/docs/*.json, and
// test/api-docs.test.ts fails when the checked-in files differ from freshly generated ones.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildAsyncApi } from "../dist/api-docs/asyncapi.js";
import { buildOpenApi } from "../dist/api-docs/openapi.js";

const outDir = fileURLToPath(new URL("../docs/api/", import.meta.url));
mkdirSync(outDir, { recursive: true });
const files = [
  [`${outDir}openapi.json`, buildOpenApi()],
  [`${outDir}asyncapi.json`, buildAsyncApi()],
];
for (const [path, doc] of files) writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
// The repository's formatter has the last word on layout, so `biome check` stays clean.
const biome = fileURLToPath(new URL("../node_modules/.bin/biome", import.meta.url));
execFileSync(biome, ["format", "--write", ...files.map(([path]) => path)], { stdio: "ignore" });
for (const [path] of files) console.log(`wrote ${path}`);
