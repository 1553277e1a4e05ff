// tsc emits only .js: copy the Lua scripts next to the modules that load them.
import { cpSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith(".lua")) cpSync(p, p.replace(/^src\//, "dist/"));
  }
}
walk("src");
