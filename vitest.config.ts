import { defineConfig } from "vitest/config";

/** What both projects share; the template database (globalSetup) is made once, by the root. */
const shared = {
  setupFiles: ["test/support/per-file.ts"],
  pool: "forks" as const,
  testTimeout: 30_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts"],
    projects: [
      {
        test: {
          ...shared,
          name: "server",
          include: ["test/**/*.test.ts"],
          exclude: ["test/browser/**", "test/faults/**", "**/node_modules/**"],
          // Files run in parallel: each has its own database and Valkey prefix.
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
      {
        // The control center in headless Chromium (docs/control-center.md): `npm run test:browser`.
        test: {
          ...shared,
          name: "browser",
          include: ["test/browser/**/*.test.ts"],
          globalSetup: ["test/browser/support/build-web.ts"],
          testTimeout: 60_000,
          // After the server project, not beside it: Chromium and the server tests share two cores.
          sequence: { groupOrder: 1 },
          fileParallelism: true,
          maxWorkers: 2,
        },
      },
    ],
  },
});
