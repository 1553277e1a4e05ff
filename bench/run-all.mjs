/**
 * `npm run bench`: runs every bench/*-bench.mjs in turn, each in its own
 * process (they start and stop their own services), and exits non-zero if
 * any of them did.
 */
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const dir = fileURLToPath(new URL(".", import.meta.url));
const scripts = readdirSync(dir)
  .filter((f) => f.endsWith("-bench.mjs"))
  .sort();

const failed = [];
for (const script of scripts) {
  process.stdout.write(`\n=== ${script} ===\n`);
  const r = spawnSync(process.execPath, [`${dir}${script}`], { stdio: "inherit" });
  if (r.status !== 0) failed.push(`${script} (exit ${r.status ?? r.signal})`);
}
if (failed.length > 0) {
  process.stdout.write(`\nfailed: ${failed.join(", ")}\n`);
  process.exit(1);
}
