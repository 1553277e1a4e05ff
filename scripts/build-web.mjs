// Builds the control-center web app (web/) into dist/web/ with Vite:
//   dist/web/index.html                       (not cached; served for /internal/ and the link pages)
//   dist/web/app/<name>.<hash>.js|css          (long-cached, referenced as /internal/app/…)
// `node scripts/build-web.mjs --watch` rebuilds on every change (run the gateway beside it and reload).
import { fileURLToPath } from "node:url";
import { build } from "vite";

const root = fileURLToPath(new URL("../web/", import.meta.url));
const outDir = fileURLToPath(new URL("../dist/web/", import.meta.url));
const watch = process.argv.includes("--watch");

await build({
  root,
  base: "/internal/",
  configFile: false,
  logLevel: watch ? "info" : "warn",
  clearScreen: false,
  // TSX with Preact's automatic runtime: no Babel, no plugin.
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: "app",
    // Current Chromium and Firefox load module preloads natively: no polyfill in the bundle.
    modulePreload: { polyfill: false },
    // Everything the page needs is a file under /internal/app/: no data: URLs for fonts or images.
    assetsInlineLimit: 0,
    sourcemap: true,
    target: "es2022",
    rolldownOptions: {
      output: {
        entryFileNames: "app/[name].[hash].js",
        chunkFileNames: "app/[name].[hash].js",
        assetFileNames: "app/[name].[hash][extname]",
      },
    },
    ...(watch ? { watch: {} } : {}),
  },
});
