import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The browser tests run against the current web/ source: build it once per run (about 2 s). */
export default function setup(): void {
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  execFileSync(process.execPath, ["scripts/build-web.mjs"], { cwd: root, stdio: "inherit" });
}
