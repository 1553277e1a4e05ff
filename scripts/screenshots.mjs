// Regenerates the control-center screenshots in docs/control-center/ (shown in docs/control-center.md).
// It runs the browser test that walks every page (test/browser/screenshots.test.ts) against a real
// gateway, with SCREENSHOT_DIR pointing here. Needs what the tests need: Postgres on 127.0.0.1:5432
// (trust), Redis on 127.0.0.1:6379, and Chromium at /usr/bin/chromium (apt-get install chromium).
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../", import.meta.url));
const out = fileURLToPath(new URL("../docs/control-center/", import.meta.url));

// Pictures of pages that no longer exist must not linger.
mkdirSync(out, { recursive: true });
for (const f of readdirSync(out)) if (f.endsWith(".png")) rmSync(`${out}${f}`);

const vitest = fileURLToPath(new URL("../node_modules/vitest/vitest.mjs", import.meta.url));
const run = spawnSync(
  process.execPath,
  [vitest, "run", "--project", "browser", "test/browser/screenshots.test.ts"],
  { cwd: root, stdio: "inherit", env: { ...process.env, SCREENSHOT_DIR: out } },
);
if (run.status !== 0) process.exit(run.status ?? 1);
console.log(
  `screenshots: ${readdirSync(out).filter((f) => f.endsWith(".png")).length} PNGs in docs/control-center/`,
);
