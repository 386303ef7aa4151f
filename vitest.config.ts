import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["operator/**/*.test.ts", "hack/**/*.test.ts"],
          environment: "node",
          // Property and fuzz tests, and those scanning every source file, take seconds of CPU
          // by design; vitest's 5 s default fails them on a busy two-core machine, not a bug.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["e2e/**/*.test.ts"],
          environment: "node",
          globalSetup: ["e2e/support/global-setup.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
