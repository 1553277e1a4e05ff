import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));

/**
 * Writes one run's record to bench/results/<name>-<timestamp>.json, `at` first and then
 * `fields` in their order (settings, results, the printed table), pretty-printed.
 */
export function writeResults(name, fields) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const at = new Date().toISOString();
  const file = `${RESULTS_DIR}${name}-${at.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, `${JSON.stringify({ at, ...fields }, null, 2)}\n`);
  return file;
}
