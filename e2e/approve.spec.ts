import { expect, test } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { RegistryClient } from "../lib/oci/client";
import { parseManifest } from "../lib/oci/manifest";
import { base, PUBLISHER_DIGEST, query, signIn } from "./helpers";

test("a visitor without a session is sent to sign in, and the API answers 401", async ({ page, request }) => {
  await page.goto(`${base()}/images`);
  await expect(page).toHaveURL(/\/signin\?callbackUrl=%2Fimages/);
  const res = await request.get(`${base()}/api/v1/images`);
  expect(res.status()).toBe(401);
  expect((await res.json()).error.code).toBe("UNAUTHENTICATED");
});

test("a wrong password shows an error and is audited as a failed sign-in", async ({ page }) => {
  await page.goto(`${base()}/signin`);
  await page.getByLabel("Email").fill("alice@example.com");
  await page.getByLabel("Password").fill("not-her-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByText("Wrong email or password.")).toBeVisible();
  const rows = await query(`SELECT outcome FROM audit_events WHERE action = 'auth.signin' AND actor_label = 'alice@example.com' AND outcome = 'failure'`);
  expect(rows.length).toBeGreaterThan(0);
});

test("alice approves stage test in the browser and sees the new signature verified", async ({ page }) => {
  await signIn(page, "alice@example.com", "alice-demo-pass");
  await page.goto(`${base()}/images`);
  const row = page.locator('[data-testid="image-row"][data-repository="publisher/base"]');
  await expect(row.getByTestId("sig-count")).toHaveText("1 of 1 verified");
  await row.getByTestId("digest-link").click();
  await expect(page.getByTestId("full-digest")).toHaveText(PUBLISHER_DIGEST);

  const sigs = page.getByTestId("signature");
  await expect(sigs).toHaveCount(1);
  await expect(sigs.first()).toHaveAttribute("data-verdict", "verified");
  await expect(sigs.first().getByTestId("signature-detail")).toContainText('trusted key "publisher"');

  await page.locator('select[name="stage"]').selectOption("test");
  await page.getByLabel("Comment").fill("CVE scan clean, SBOM reviewed");
  await page.getByRole("button", { name: "Approve test" }).click();
  await expect(page.getByText("Approved and signed.")).toBeVisible();

  await expect(sigs).toHaveCount(2);
  await expect(sigs.nth(1)).toHaveAttribute("data-verdict", "verified");
  await expect(sigs.nth(1).getByTestId("signature-detail")).toContainText("stage:test");
  await expect(page.getByTestId("stage-test")).toContainText("approved");
  await expect(page.getByTestId("approval")).toContainText("CVE scan clean, SBOM reviewed");

  mkdirSync("test-results/artifacts", { recursive: true });
  await page.screenshot({ path: "test-results/artifacts/image-page.png", fullPage: true });

  // What the browser showed is what Postgres and the registry hold.
  const approvals = await query<{ status: string; comment: string; layer_digest: string }>(
    `SELECT a.status, a.comment, a.layer_digest FROM approvals a JOIN images i ON i.id = a.image_id WHERE i.digest = $1`,
    [PUBLISHER_DIGEST],
  );
  expect(approvals).toHaveLength(1);
  expect(approvals[0]!.status).toBe("signed");
  const client = new RegistryClient({ url: process.env.E2E_REGISTRY_URL! });
  const m = await client.getManifest("publisher/base", `${PUBLISHER_DIGEST.replace(":", "-")}.sig`);
  const parsed = parseManifest(m.bytes, m.mediaType);
  expect(parsed.kind === "manifest" && parsed.manifest.layers.map((l) => l.digest)).toContain(approvals[0]!.layer_digest);
});

test("a multi-platform index is approved by its index digest and its platforms show as covered", async ({ page }) => {
  await signIn(page, "bob@example.com", "bob-demo-pass");
  await page.goto(`${base()}/images`);
  const row = page.locator('[data-testid="image-row"][data-repository="apps/web-frontend"]');
  await expect(row).toContainText("linux/arm64/v8");
  await row.getByTestId("digest-link").click();
  await expect(page.getByTestId("platforms")).toContainText("linux/amd64");
  await page.getByLabel("Comment").fill("index approval");
  await page.getByRole("button", { name: "Approve test" }).click();
  await expect(page.getByText("Approved and signed.")).toBeVisible();
  await expect(page.getByTestId("platforms")).toContainText("stage test (index signature)");
});

test("a developer sees no approve button and gets 403 from the API", async ({ page }) => {
  await signIn(page, "dev@example.com", "dev-demo-pass");
  await page.goto(`${base()}/images/publisher/base@${PUBLISHER_DIGEST}`);
  await expect(page.getByTestId("full-digest")).toHaveText(PUBLISHER_DIGEST);
  await expect(page.getByRole("button", { name: /Approve/ })).toHaveCount(0);
  const res = await page.request.post(`${base()}/api/v1/approvals`, {
    data: { repository: "publisher/base", digest: PUBLISHER_DIGEST, stage: "prod", comment: "sneaky" },
  });
  expect(res.status()).toBe(403);
  expect((await res.json()).error.code).toBe("FORBIDDEN");
  const denied = await query(`SELECT 1 FROM audit_events WHERE action = 'request.denied' AND actor_label = 'dev@example.com'`);
  expect(denied.length).toBeGreaterThan(0);
  const prod = await query(`SELECT 1 FROM approvals a JOIN stages s ON s.id = a.stage_id WHERE s.name = 'prod'`);
  expect(prod).toHaveLength(0);
});

test("a manager reads the audit trail with an intact hash chain", async ({ page }) => {
  await signIn(page, "manager@example.com", "manager-demo-pass");
  await page.goto(`${base()}/audit`);
  await expect(page.getByTestId("chain-status")).toContainText("hash chain intact");
  const rows = page.getByTestId("audit-row");
  await expect(rows.filter({ hasText: "approval.create" }).filter({ hasText: PUBLISHER_DIGEST })).toHaveCount(1);
  await expect(rows.filter({ hasText: "signature.push" }).filter({ hasText: PUBLISHER_DIGEST })).toHaveCount(1);
  await expect(rows.filter({ hasText: "auth.signin" }).first()).toBeVisible();
  await expect(rows.filter({ hasText: "request.denied" }).first()).toBeVisible();
});

test("a developer cannot read the audit trail", async ({ page }) => {
  await signIn(page, "dev@example.com", "dev-demo-pass");
  await page.goto(`${base()}/audit`);
  await expect(page.getByText("The audit trail is open to admins and managers.")).toBeVisible();
  const res = await page.request.get(`${base()}/api/v1/audit`);
  expect(res.status()).toBe(403);
});
