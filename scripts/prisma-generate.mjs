#!/usr/bin/env node
// Runs `prisma generate` offline. Prisma 7's CLI wants to download its schema engine even for
// `generate`, which needs none; pointing PRISMA_SCHEMA_ENGINE_BINARY at any existing file skips that.
// The generated client (prisma-client generator + @prisma/adapter-pg) needs no engine at run time.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync, chmodSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "node_modules", "prisma", "build", "index.js");
if (!existsSync(cli)) {
  console.error("prisma CLI not installed yet; skipping generate");
  process.exit(0);
}
const stubDir = join(root, "node_modules", ".cache", "imprimatur");
const stub = join(stubDir, "schema-engine-stub");
if (!existsSync(stub)) {
  mkdirSync(stubDir, { recursive: true });
  writeFileSync(stub, "#!/bin/sh\necho 'schema engine unavailable offline; use npm run migrate' >&2\nexit 1\n");
  chmodSync(stub, 0o755);
}
const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY ?? stub,
  PRISMA_HIDE_UPDATE_MESSAGE: "1",
  CHECKPOINT_DISABLE: "1",
};
const args = process.argv.slice(2);
const r = spawnSync(process.execPath, [cli, ...(args.length ? args : ["generate"])], {
  cwd: root,
  env,
  stdio: "inherit",
});
process.exit(r.status ?? 1);
