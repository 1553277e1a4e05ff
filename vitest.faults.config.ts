import { defineConfig } from "vitest/config";

/**
 * The fault suite (`npm run test:faults`, docs/faults.md): each scenario
 * kills or stops a part of a deployment under steady SDK load and checks
 * that nothing acknowledged is lost. Not part of `npm test`. One file at a
 * time: the scenarios measure recovery times on a 2-core machine.
 */
export default defineConfig({
  test: {
    name: "faults",
    include: ["test/faults/**/*.test.ts"],
    globalSetup: ["test/faults/support/global-setup.ts"],
    setupFiles: ["test/support/per-file.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 120_000,
  },
});
