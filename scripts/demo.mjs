#!/usr/bin/env node
// `npm run demo`: runs Imprimatur with demo data on a fresh clone, with no other step.
//  1. installs npm dependencies if missing, and Debian's docker-registry when no REGISTRY_URL is given;
//  2. uses embedded Postgres (data in .imprimatur/pg) unless DATABASE_URL is set, and migrates it;
//  3. starts a local registry (storage in .imprimatur/registry) unless REGISTRY_URL is set;
//  4. writes .env.local (git-ignored) so `npx imprimatur …` reaches the same database and settings;
//  5. seeds idempotently (the demo story: scripts/demo-story.ts), builds if needed, and serves on PORT (default 3000).
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const state = join(root, ".imprimatur");
const envFile = join(root, ".env.local");
const port = Number(process.env.PORT ?? 3000);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`\n${cmd} ${args.join(" ")} failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

// 1. Dependencies.
if (!existsSync(join(root, "node_modules", ".package-lock.json")) || !existsSync(join(root, "node_modules", "next"))) {
  console.log("Installing npm dependencies…");
  run("npm", ["install", "--no-audit", "--no-fund"]);
}
if (!existsSync(join(root, "lib", "generated", "prisma", "client.ts"))) run(process.execPath, [join(root, "scripts", "prisma-generate.mjs")]);

const { loadEnvConfig } = (await import("@next/env")).default;
const { freePort, startPostgres, startRegistry, ensureRegistryBinary } = await import("./lib/services.mjs");
const { migrate } = await import("./lib/migrate.mjs");

// Values from an earlier run (master key, secrets) are kept; the environment wins over the file.
const fileEnv = {};
if (existsSync(envFile)) {
  for (const line of readFileSync(envFile, "utf8").split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) fileEnv[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
}
const userDatabaseUrl = process.env.DATABASE_URL;
const userRegistryUrl = process.env.REGISTRY_URL;
mkdirSync(state, { recursive: true });

const stops = [];
async function shutdown(code = 0) {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  process.exit(code);
}
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));

console.log(`Imprimatur demo. Logins (email / password / role):\n${logins()}\n`);

try {
  // 2. Database.
  let databaseUrl = userDatabaseUrl;
  if (!databaseUrl) {
    const pgPort = Number(fileEnv.IMPRIMATUR_PG_PORT) || (await freePort());
    console.log("Starting embedded Postgres (data in .imprimatur/pg)…");
    const pg = await startPostgres({ dir: join(state, "pg"), port: await portOr(pgPort) });
    stops.push(() => pg.stop());
    databaseUrl = pg.url;
    fileEnv.IMPRIMATUR_PG_PORT = String(pg.port);
  }
  const applied = await migrate(databaseUrl, { log: (s) => console.log(`  ${s}`) });
  if (!applied.length) console.log("Database schema is up to date.");

  // 3. Registry.
  let registryUrl = userRegistryUrl;
  if (!registryUrl) {
    ensureRegistryBinary();
    const regPort = await portOr(Number(fileEnv.IMPRIMATUR_REGISTRY_PORT) || 5055);
    console.log("Starting a local OCI registry (Distribution; storage in .imprimatur/registry)…");
    const reg = await startRegistry({ dir: join(state, "registry"), port: regPort });
    stops.push(() => reg.stop());
    registryUrl = reg.url;
    fileEnv.IMPRIMATUR_REGISTRY_PORT = String(reg.port);
  }

  // 3b. A real RFC 3161 TSA (openssl ts -reply on loopback; certificates kept in .imprimatur/tsa), unless one is given.
  let tsaUrl = process.env.IMPRIMATUR_TSA_URL;
  let tsaChainFile = null;
  if (!tsaUrl) {
    const { startTsa } = await import("./lib/tsa.mjs");
    const tsa = await startTsa({ dir: join(state, "tsa"), port: await portOr(Number(fileEnv.IMPRIMATUR_TSA_PORT) || 5056) });
    stops.push(() => tsa.stop());
    tsaUrl = tsa.url;
    tsaChainFile = join(state, "tsa", "chain.pem");
    writeFileSync(tsaChainFile, tsa.chainPem);
    fileEnv.IMPRIMATUR_TSA_PORT = String(tsa.port);
    console.log(`Timestamp authority (openssl ts) on ${tsa.url}`);
  }

  // 4. Settings for the server and the CLI.
  const settings = {
    ...fileEnv,
    DATABASE_URL: databaseUrl,
    REGISTRY_URL: registryUrl,
    IMPRIMATUR_MASTER_KEY: process.env.IMPRIMATUR_MASTER_KEY ?? fileEnv.IMPRIMATUR_MASTER_KEY ?? randomBytes(32).toString("base64"),
    NEXTAUTH_SECRET: process.env.NEXTAUTH_SECRET ?? fileEnv.NEXTAUTH_SECRET ?? randomBytes(32).toString("base64url"),
    NEXTAUTH_URL: process.env.NEXTAUTH_URL ?? `http://localhost:${port}`,
    IMPRIMATUR_TSA_URL: tsaUrl,
  };
  if (process.env.REGISTRY_PULL_NAME) settings.REGISTRY_PULL_NAME = process.env.REGISTRY_PULL_NAME;
  writeFileSync(
    envFile,
    "# Written by `npm run demo`. Git-ignored. Holds the master key that encrypts the signing keys: keep it.\n" +
      Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join("\n") +
      "\n",
    { mode: 0o600 },
  );
  Object.assign(process.env, settings);
  loadEnvConfig(root, false, { info: () => {}, error: console.error });

  // 5. Seed (idempotent), build when sources are newer than the build, serve.
  // The story (scripts/demo-story.ts): weeks of history built through the product's actions on a clock that starts in
  // the past. Without the TSA: a timestamp authority vouches for now, never for a past time; signatures made in the
  // running demo carry trusted time.
  const seedStarted = Date.now();
  const seedEnv = { ...process.env };
  delete seedEnv.IMPRIMATUR_TSA_URL;
  run(process.execPath, ["--conditions=react-server", "--import", import.meta.resolve("tsx"), join(root, "scripts", "cli.ts"), "seed", "--story"], {
    env: seedEnv,
  });
  console.log(`Seeded in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s.`);
  if (tsaChainFile) {
    // Trust the demo TSA's chain (a no-op when it is trusted already), so stage signatures carry trusted time.
    const t = spawnSync(
      process.execPath,
      [
        "--conditions=react-server",
        "--import",
        import.meta.resolve("tsx"),
        join(root, "scripts", "cli.ts"),
        "trust",
        "add",
        "--name",
        "demo-tsa",
        "--kind",
        "tsa",
        "--role",
        "stage",
        "--pem-file",
        tsaChainFile,
      ],
      { cwd: root, env: process.env, encoding: "utf8" },
    );
    if (t.status !== 0 && !/exists/i.test(`${t.stderr}${t.stdout}`)) console.warn(`Could not trust the demo TSA: ${(t.stderr || t.stdout).trim()}`);
  }
  if (needsBuild()) {
    console.log("Building the web app (next build)…");
    run(process.execPath, [join(root, "node_modules", "next", "dist", "bin", "next"), "build"], { env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
  }
  const server = spawn(process.execPath, [join(root, "scripts", "server.mjs"), "-p", String(port)], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" },
  });
  stops.unshift(async () => server.kill("SIGTERM"));
  server.on("exit", (code) => shutdown(code ?? 0));
  await waitFor(`http://127.0.0.1:${port}/signin`);
  printBanner(registryUrl);
} catch (e) {
  console.error(`\nDemo failed: ${e?.message ?? e}`);
  await shutdown(1);
}

async function portOr(preferred) {
  const { createServer } = await import("node:net");
  const free = await new Promise((res) => {
    const s = createServer();
    s.once("error", () => res(false));
    s.listen(preferred, "127.0.0.1", () => s.close(() => res(true)));
  });
  return free ? preferred : freePort();
}

function newestMtime(dir) {
  let newest = 0;
  if (!existsSync(dir)) return 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "generated" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function needsBuild() {
  const id = join(root, ".next", "BUILD_ID");
  if (!existsSync(id)) return true;
  const built = statSync(id).mtimeMs;
  return (
    ["app", "components", "lib", "public"].some((d) => newestMtime(join(root, d)) > built) ||
    ["proxy.ts", "instrumentation.ts", "next.config.ts", "package.json"].some((f) => existsSync(join(root, f)) && statSync(join(root, f)).mtimeMs > built)
  );
}

async function waitFor(url) {
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status < 500) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server did not answer at ${url}`);
}

function logins() {
  const users = JSON.parse(readFileSync(join(root, "scripts", "demo-users.json"), "utf8"));
  return users.map((u) => `    ${u.email.padEnd(22)} ${u.password.padEnd(20)} ${u.role}`).join("\n");
}

function printBanner(registryUrl) {
  console.log(`
  Imprimatur is running:  http://localhost:${port}
  Registry:               ${registryUrl}
  Database:               ${userDatabaseUrl ? "DATABASE_URL" : "embedded Postgres (.imprimatur/pg)"}

  Demo logins (email / password / role):
${logins()}

  CLI (same database and settings, from .env.local):  npx imprimatur help
  Stop with Ctrl-C.
`);
}
