import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startPostgres, startRegistry } from "../scripts/lib/services.mjs";
import { migrate } from "../scripts/lib/migrate.mjs";
import { startOidcProvider } from "../scripts/lib/oidc-provider.mjs";
import { startTsa } from "../scripts/lib/tsa.mjs";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

const root = fileURLToPath(new URL("..", import.meta.url));

async function waitFor(url: string, server: ChildProcess) {
  for (let i = 0; i < 600; i++) {
    if (server.exitCode !== null) throw new Error(`the server exited with ${server.exitCode}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not come up`);
}

export default async function globalSetup() {
  const pg = await startPostgres({ database: "imprimatur_e2e" });
  const registry = await startRegistry({});
  // A second registry, for the admin to add in the browser.
  const registry2 = await startRegistry({});
  // A real RFC 3161 TSA: every stage signature in the specs carries a trusted timestamp.
  const tsa = await startTsa({});
  const tsaChain = join(mkdtempSync(join(tmpdir(), "e2e-tsa-")), "chain.pem");
  writeFileSync(tsaChain, tsa.chainPem);
  await migrate(pg.url);
  const port = await freePort();
  // A real OpenID provider (oidc-provider, development login page) for e2e/oidc.spec.ts.
  const idp = await startOidcProvider({
    redirectUris: [`http://127.0.0.1:${port}/api/auth/callback/oidc`],
    users: {
      "sso-sam": { email: "sso-sam@corp.example", name: "Sam Sso", groups: ["security", "app-team", "staff"] },
      "sso-outsider": { email: "sso-outsider@corp.example", name: "Out Sider", groups: ["marketing"] },
    },
  });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: pg.url,
    REGISTRY_URL: registry.url,
    IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
    NEXTAUTH_SECRET: randomBytes(32).toString("base64url"),
    NEXTAUTH_URL: `http://127.0.0.1:${port}`,
    NEXT_TELEMETRY_DISABLED: "1",
    // Client certificates are believed only from this address; specs connect from it (or not) on purpose.
    IMPRIMATUR_TRUSTED_PROXIES: "127.0.0.2",
    OIDC_ISSUER: idp.issuer,
    OIDC_CLIENT_ID: idp.clientId,
    OIDC_CLIENT_SECRET: idp.clientSecret,
    OIDC_DISPLAY_NAME: "Test IdP",
    OIDC_ROLE_MAP: "security=reviewer,app-team=developer,imprimatur-admins=admin",
    IMPRIMATUR_TSA_URL: tsa.url,
  };
  delete env.REGISTRY_PULL_NAME;
  const tsx = ["--conditions=react-server", "--import", "tsx", join(root, "scripts", "cli.ts")];
  const seed = spawnSync(process.execPath, [...tsx, "seed"], { cwd: root, env, stdio: "inherit" });
  if (seed.status !== 0) throw new Error("seeding the e2e database failed");
  const trust = spawnSync(process.execPath, [...tsx, "trust", "add", "--name", "e2e-tsa", "--kind", "tsa", "--role", "stage", "--pem-file", tsaChain], {
    cwd: root,
    env,
    stdio: "inherit",
  });
  if (trust.status !== 0) throw new Error("trusting the e2e TSA failed");
  if (!existsSync(join(root, ".next", "BUILD_ID"))) {
    const b = spawnSync(process.execPath, [join(root, "node_modules/next/dist/bin/next"), "build"], { cwd: root, env, stdio: "inherit" });
    if (b.status !== 0) throw new Error("next build failed");
  }
  // The production server (scripts/server.mjs = Next's handler behind node:http, which stamps the TCP peer).
  const server = spawn(process.execPath, [join(root, "scripts", "server.mjs"), "-p", String(port), "-H", "127.0.0.1"], {
    cwd: root,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitFor(`http://127.0.0.1:${port}/signin`, server);

  // Specs read these to drive the browser and then check Postgres and the registry directly.
  process.env.E2E_BASE_URL = `http://127.0.0.1:${port}`;
  process.env.E2E_DATABASE_URL = pg.url;
  process.env.E2E_REGISTRY_URL = registry.url;
  process.env.E2E_MASTER_KEY = env.IMPRIMATUR_MASTER_KEY;
  process.env.E2E_REGISTRY2_URL = registry2.url;
  process.env.E2E_OIDC_ISSUER = idp.issuer;
  process.env.E2E_TSA_URL = tsa.url;

  return async () => {
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once("exit", r)));
    await idp.stop();
    await registry.destroy();
    await registry2.destroy();
    await tsa.destroy();
    await pg.stop();
  };
}
