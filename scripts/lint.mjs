#!/usr/bin/env node
// `npm run lint`: Prettier's check (.prettierrc.json, 160 columns; `npm run format` rewrites) and ESLint
// (eslint.config.mjs: the house rules, incl. size limits and the framework-free core).
// Run by `npm test` after the typecheck. Exits with the first failing tool's status.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tools = [
  [
    "prettier",
    [
      join(root, "node_modules", "prettier", "bin", "prettier.cjs"),
      ".",
      "--check",
      "--log-level",
      "warn",
      // Prettier's own default cache file (node_modules/.cache/prettier/.prettier-cache), so plain `npx prettier` shares it.
      "--cache",
    ],
  ],
  [
    "eslint",
    [
      join(root, "node_modules", "eslint", "bin", "eslint.js"),
      ".",
      "--max-warnings",
      "0",
      "--cache",
      "--cache-location",
      join(root, "node_modules", ".cache", "eslint"),
    ],
  ],
];
for (const [name, args] of tools) {
  const started = Date.now();
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  console.log(`${name}: ${r.status === 0 ? "ok" : `FAILED (exit ${r.status})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (r.status !== 0) process.exit(r.status ?? 1);
}
