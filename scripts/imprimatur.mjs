#!/usr/bin/env node
// Entry point for `npx imprimatur …`. Loads .env / .env.local like Next does (the demo writes its
// database URL, registry and master key there), then runs the TypeScript CLI with tsx.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import nextEnv from "@next/env";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
nextEnv.loadEnvConfig(root, false, { info: () => {}, error: console.error });
const r = spawnSync(
  process.execPath,
  // react-server: lets lib/server modules (which import "server-only") load outside Next.
  ["--conditions=react-server", "--import", import.meta.resolve("tsx"), join(root, "scripts", "cli.ts"), ...process.argv.slice(2)],
  { stdio: "inherit", env: process.env },
);
process.exit(r.status ?? 1);
