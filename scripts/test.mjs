#!/usr/bin/env node
// `npm test`: the whole suite on a fresh clone, with no other step (like `npm run demo`).
//  1. installs the npm dependencies when they are missing or older than package-lock.json (`npm ci`);
//  2. installs Debian's chromium, docker-registry and softhsm2 with apt when run as root, or else prints exactly
//     what to install and stops;
//  3. runs the stages in order of cost: typecheck → lint (ESLint, Prettier) → unit (vitest) → integration (vitest, real Postgres and
//     docker-registry started by the harness) → next build → e2e (Playwright in Debian's Chromium against
//     `next start`). Stops at the first failing stage, with its exit code.
// `npm test -- unit integration` runs only the named stages. `.ci/run` only calls this.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = (name) => join(root, "node_modules", ".bin", name);
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };

function run(cmd, args, what, extraEnv = {}) {
  const r = spawnSync(cmd, args, { cwd: root, env: { ...env, ...extraEnv }, stdio: "inherit" });
  if (r.error) {
    console.error(`${what}: could not run ${cmd}: ${r.error.message}`);
    process.exit(1);
  }
  if (r.status !== 0) {
    console.error(`${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(r.status ?? 1);
  }
}

// 1. npm dependencies. node_modules/.package-lock.json is what npm writes after an install; older than
// package-lock.json means the lock changed since (a pull), so install again.
const installed = join(root, "node_modules", ".package-lock.json");
const stale = !existsSync(installed) || !existsSync(bin("tsc")) || statSync(installed).mtimeMs < statSync(join(root, "package-lock.json")).mtimeMs;
if (stale) {
  console.log("=== installing npm dependencies (npm ci) ===");
  run(process.platform === "win32" ? "npm.cmd" : "npm", ["ci", "--no-audit", "--no-fund"], "npm ci");
}
if (!existsSync(join(root, "lib", "generated", "prisma", "client.ts")))
  run(process.execPath, [join(root, "scripts", "prisma-generate.mjs")], "prisma generate");

// 2. System packages the integration and e2e stages run for real: the browser, the registry, the PKCS#11 token.
const systemPackages = [
  { pkg: "chromium", present: () => existsSync(process.env.CHROMIUM_PATH ?? "/usr/bin/chromium") },
  { pkg: "docker-registry", present: () => existsSync("/usr/bin/docker-registry") || onPath("docker-registry") },
  { pkg: "softhsm2", present: () => onPath("softhsm2-util") },
];
const missing = systemPackages.filter((p) => !p.present()).map((p) => p.pkg);
if (missing.length) {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const hasApt = existsSync("/usr/bin/apt-get");
  if (isRoot && hasApt) {
    console.log(`=== installing with apt: ${missing.join(" ")} ===`);
    run("apt-get", ["update", "-qq"], "apt-get update", { DEBIAN_FRONTEND: "noninteractive" });
    run("apt-get", ["install", "-y", "-qq", ...missing], "apt-get install", { DEBIAN_FRONTEND: "noninteractive" });
  } else {
    console.error(`npm test needs these Debian packages, which are not installed: ${missing.join(", ")}.`);
    console.error(`Install them (as root), then run npm test again:\n\n  sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}\n`);
    if (missing.includes("chromium")) console.error("Or point CHROMIUM_PATH at another Chromium build.");
    process.exit(1);
  }
}

function onPath(name) {
  return (process.env.PATH ?? "").split(":").some((d) => d && existsSync(join(d, name)));
}

// 3. The suite.
const stages = [
  ["typecheck", bin("tsc"), ["--noEmit"]],
  ["lint", process.execPath, [join(root, "scripts", "lint.mjs")]],
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
