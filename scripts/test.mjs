#!/usr/bin/env node
// `npm test`: the whole suite, in order of cost. Unit (vitest) → integration (vitest, real Postgres and
// docker-registry started by the harness) → next build → e2e (Playwright in Debian's Chromium against
// `next start`). Stops at the first failing stage, with its exit code.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };

const missing = [];
if (!existsSync(process.env.CHROMIUM_PATH ?? "/usr/bin/chromium")) missing.push("chromium (apt-get install chromium)");
if (!existsSync("/usr/bin/docker-registry")) missing.push("docker-registry (apt-get install docker-registry)");
if (missing.length) {
  console.error(`npm test needs: ${missing.join(", ")}. .ci/run installs them on Debian.`);
  process.exit(1);
}

const stages = [
  ["typecheck", bin("tsc"), ["--noEmit"]],
  ["unit", bin("vitest"), ["run", "--project", "unit"]],
  ["integration", bin("vitest"), ["run", "--project", "integration"]],
  ["build", process.execPath, [join(root, "node_modules/next/dist/bin/next"), "build"]],
  ["e2e", bin("playwright"), ["test"]],
];
const only = process.argv.slice(2);
for (const [name, cmd, args] of stages) {
  if (only.length && !only.includes(name)) continue;
  console.log(`\n=== ${name} ===`);
  const started = Date.now();
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: "inherit" });
  console.log(`=== ${name}: ${r.status === 0 ? "ok" : `FAILED (exit ${r.status})`} in ${((Date.now() - started) / 1000).toFixed(1)} s ===`);
  if (r.status !== 0) process.exit(r.status ?? 1);
}
