import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  resolve: {
    // `server-only` throws unless resolved under the react-server condition, as Next does for server code;
    // tests run server code directly, so it resolves to the package's own empty module.
    alias: { "@": root, "server-only": `${root}node_modules/server-only/empty.js` },
  },
  test: {
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["lib/**/*.test.ts", "deploy/**/*.test.ts"], exclude: ["lib/**/*.int.test.ts", "node_modules/**"] },
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["lib/**/*.int.test.ts"],
          globalSetup: ["scripts/test-harness/vitest-global.ts"],
          setupFiles: ["scripts/test-harness/vitest-env.ts"],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
