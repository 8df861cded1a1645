import { expect, test, type Browser, type Page } from "@playwright/test";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { freePort, startPostgres, startRegistry, type PostgresHandle, type RegistryHandle } from "../scripts/lib/services.mjs";
import { migrate } from "../scripts/lib/migrate.mjs";
import { PASSWORDS } from "./helpers";

// The README's walkthrough, page by page, on the demo's own data: this spec runs `imprimatur seed --story` (what
// `npm run demo` runs) against a Postgres and a registry of its own — so the other specs keep their seed — serves it
// with the same build, takes the screenshots into docs/screenshots/ and asserts what each one must show, so the tour
// cannot silently go stale.

const root = fileURLToPath(new URL("..", import.meta.url));
const shots = join(root, "docs", "screenshots");
let pgh: PostgresHandle;
let registry: RegistryHandle;
let server: ChildProcess;
let url = "";
let dbUrl = "";

test.describe.configure({ mode: "serial" });
test.setTimeout(300_000);

async function waitFor(u: string, s: ChildProcess) {
  for (let i = 0; i < 600; i++) {
    if (s.exitCode !== null) throw new Error(`the server exited with ${s.exitCode}`);
    try {
      if ((await fetch(u, { signal: AbortSignal.timeout(2000) })).status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${u} did not come up`);
}

async function q<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

async function as(browser: Browser, email: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 860 } })).newPage();
  await page.goto(`${url}/signin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORDS[email]!);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByTestId("whoami")).toHaveText(email);
  return page;
}

async function digest(repository: string, tag: string): Promise<string> {
  const rows = await q<{ digest: string }>(`SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id WHERE r.name = $1 AND t.name = $2`, [
    repository,
    tag,
  ]);
  expect(rows, `${repository}:${tag}`).toHaveLength(1);
  return rows[0]!.digest;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true, animations: "disabled" });

test.beforeAll(async () => {
  test.setTimeout(600_000);
  mkdirSync(shots, { recursive: true });
  pgh = await startPostgres({ database: "imprimatur_story" });
  registry = await startRegistry({});
  dbUrl = pgh.url;
  await migrate(dbUrl);
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: dbUrl,
    REGISTRY_URL: registry.url,
    IMPRIMATUR_MASTER_KEY: randomBytes(32).toString("base64"),
    NEXTAUTH_SECRET: randomBytes(32).toString("base64url"),
    NEXTAUTH_URL: url,
    NEXT_TELEMETRY_DISABLED: "1",
  };
  for (const k of ["REGISTRY_PULL_NAME", "IMPRIMATUR_TSA_URL", "OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"]) delete env[k];
  const t0 = Date.now();
  const seed = spawnSync(process.execPath, ["--conditions=react-server", "--import", "tsx", join(root, "scripts", "cli.ts"), "seed", "--story"], {
    cwd: root,
    env,
    stdio: "inherit",
  });
  if (seed.status !== 0) throw new Error("seed --story failed");
  console.log(`seed --story took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  server = spawn(process.execPath, [join(root, "scripts", "server.mjs"), "-p", String(port), "-H", "127.0.0.1"], {
    cwd: root,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitFor(`${url}/signin`, server);
});

test.afterAll(async () => {
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => (server.exitCode !== null ? r(null) : server.once("exit", r)));
  }
  await registry?.destroy();
  await pgh?.stop();
});

test("01 sign in", async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.goto(`${url}/signin`);
  await expect(page.getByRole("button", { name: "Sign in", exact: true })).toBeVisible();
  await shot(page, "01-signin");
});

test("02 images: one image at each stage, the chain of signatures per image", async ({ browser }) => {
  const page = await as(browser, "alice@example.com");
  await page.goto(`${url}/images`);
  const row = (repo: string, d: string) => page.locator(`[data-testid="image-row"][data-repository="${repo}"][data-digest="${d}"]`);
  const web = row("apps/web-frontend", await digest("apps/web-frontend", "1.0"));
  for (const s of ["build", "test", "prod"]) await expect(web.getByTestId("chain-link").filter({ hasText: s })).toHaveAttribute("data-mark", "✓");
  const old = row("apps/payments-api", await digest("apps/payments-api", "2.3.0"));
  await expect(old.getByTestId("chain-link").filter({ hasText: "test" })).toHaveAttribute("data-mark", "✓");
  await expect(old.getByTestId("chain-link").filter({ hasText: "prod" })).toHaveAttribute("data-mark", "–");
  await expect(old.getByTestId("chain-link").filter({ hasText: "team" })).toHaveAttribute("data-mark", "✓");
  await expect(old.getByTestId("chain-link").filter({ hasText: "publisher" })).toHaveAttribute("data-mark", "✓");
  await expect(old.getByTestId("severity-summary")).toContainText(/[1-9]\d*C [1-9]\d*H/);
  const hardened = row("platform/base-hardened", await digest("platform/base-hardened", "1.1"));
  await expect(hardened.getByTestId("chain-link").filter({ hasText: "publisher" })).toHaveAttribute("data-mark", "✓");
  await expect(hardened.getByTestId("chain-link").filter({ hasText: "team" })).toHaveAttribute("data-mark", "✓");
  await shot(page, "02-images");
});

test("03 alice's inbox: payments-api 2.4.0 waits for test", async ({ browser }) => {
  const page = await as(browser, "alice@example.com");
  await page.goto(`${url}/requests`);
  await expect(page.getByTestId("inbox-count")).toHaveText("1");
  const rows = page.getByTestId("request-row");
  await expect(rows).toHaveCount(1);
  await expect(rows.first()).toHaveAttribute("data-repository", /apps\/payments-api$/);
  await expect(rows.first()).toHaveAttribute("data-stage", "test");
  await shot(page, "03-inbox");
  await rows.first().getByRole("link", { name: "Review" }).click();
  await expect(page.getByTestId("request-note")).toContainText("2.4.0 for the load tests");
  await shot(page, "04-request-open");
});

test("05 a failing gate, carol's waiver and the approval under it", async ({ browser }) => {
  const [req] = await q<{ id: string }>(
    `SELECT pr.id FROM promotion_requests pr JOIN stages s ON s.id = pr.stage_id JOIN images i ON i.id = pr.image_id WHERE s.name = 'test' AND i.digest = $1`,
    [await digest("apps/payments-api", "2.3.0")],
  );
  const page = await as(browser, "alice@example.com");
  await page.goto(`${url}/requests/${req!.id}`);
  await expect(page.getByTestId("waiver")).toContainText("CVE-2019-12900");
  await expect(page.getByTestId("waiver-grantor")).toContainText(/carol/i);
  await expect(page.getByTestId("stage-signature")).toHaveAttribute("data-status", "signed");
  await shot(page, "05-request-waiver");
});

test("06 a rejection with its reason", async ({ browser }) => {
  const [req] = await q<{ id: string }>(`SELECT id FROM promotion_requests WHERE status = 'rejected'`);
  const page = await as(browser, "dev@example.com");
  await page.goto(`${url}/requests/${req!.id}`);
  await expect(page.locator('[data-testid="review"][data-decision="reject"]')).toContainText("Alpine 3.10, which is end of life");
  await shot(page, "06-request-rejected");
});

test("07 an image page: base image, team signature, stage signatures", async ({ browser }) => {
  const page = await as(browser, "alice@example.com");
  await page.goto(`${url}/images/apps/payments-api@${await digest("apps/payments-api", "2.3.0")}`);
  await expect(page.getByTestId("base-image")).toContainText("platform/base-hardened");
  await expect(page.getByTestId("signature-role").filter({ hasText: "team" }).first()).toBeVisible();
  await expect(page.getByTestId("approval")).toHaveCount(2);
  await shot(page, "07-image");
});

test("08 vulnerabilities: the critical that needed the waiver", async ({ browser }) => {
  const page = await as(browser, "alice@example.com");
  await page.goto(`${url}/images/apps/payments-api@${await digest("apps/payments-api", "2.3.0")}?tab=vulnerabilities`);
  await expect(page.getByTestId("vuln-row").filter({ hasText: "CVE-2019-12900" })).toContainText(/critical/i);
  await expect(page.getByTestId("vuln-row").filter({ hasText: "CVE-2021-29940" })).toContainText(/critical/i);
  await shot(page, "08-vulnerabilities");
});

test("09 provenance signed by the CI builder", async ({ browser }) => {
  const page = await as(browser, "alice@example.com");
  await page.goto(`${url}/images/apps/payments-api@${await digest("apps/payments-api", "2.3.0")}?tab=provenance`);
  await expect(page.getByTestId("provenance").first()).toContainText("https://tekton.dev/chains/v2");
  await expect(page.getByTestId("provenance").first()).toContainText("ci-builder");
  await shot(page, "09-provenance");
});

test("10 a revoked signature and a moved tag", async ({ browser }) => {
  const page = await as(browser, "alice@example.com");
  await page.goto(`${url}/images/platform/base-hardened@${await digest("platform/base-hardened", "1.1")}`);
  await expect(page.getByTestId("approval-revoked")).toContainText("stale scan");
  await shot(page, "10-revoked");
  await page.goto(`${url}/images/apps/payments-api@${await digest("apps/payments-api", "2.4.0")}`);
  await expect(page.getByTestId("tag-moved-warning")).toContainText("latest");
  await shot(page, "11-tag-moved");
});

test("12 waivers, 13 audit trail over weeks, 14 stages", async ({ browser }) => {
  const carol = await as(browser, "carol@example.com");
  await carol.goto(`${url}/waivers`);
  await expect(carol.getByTestId("waiver-row").filter({ hasText: "CVE-2019-12900" })).toHaveCount(1);
  await shot(carol, "12-waivers");

  const admin = await as(browser, "admin@example.com");
  await admin.goto(`${url}/audit`);
  await expect(admin.getByTestId("chain-status")).toContainText("hash chain intact");
  await expect(admin.getByTestId("audit-row").first()).toBeVisible();
  const [span] = await q<{ days: number }>(`SELECT EXTRACT(EPOCH FROM max(at) - min(at)) / 86400 AS days FROM audit_events`);
  expect(Number(span!.days)).toBeGreaterThan(21);
  await shot(admin, "13-audit");
  await admin.goto(`${url}/audit?action=request.reject`);
  await expect(admin.locator('[data-testid="audit-row"][data-action="request.reject"]')).toHaveCount(1);

  await admin.goto(`${url}/stages`);
  await expect(admin.getByTestId("stage-card")).toHaveCount(3);
  await shot(admin, "14-stages");
});
