import { expect, test } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { RegistryClient } from "../lib/oci/client";
import { parseManifest } from "../lib/oci/manifest";
import { base, bearer, imageUrl, pageAs, PUBLISHER_DIGEST, query, requestPromotionApi, signIn, trivyFor, uploadEvidence } from "./helpers";

test("a visitor without a session is sent to sign in, and the API answers 401", async ({ page, request }) => {
  await page.goto(`${base()}/images`);
  await expect(page).toHaveURL(/\/signin\?callbackUrl=%2Fimages/);
  const res = await request.get(`${base()}/api/v1/images`);
  expect(res.status()).toBe(401);
  expect((await res.json()).error.code).toBe("UNAUTHENTICATED");
});

test("a wrong password shows an error and is counted as a failed sign-in from this address", async ({ page }) => {
  const count = async () =>
    Number((await query<{ n: string }>(`SELECT COALESCE(SUM(count), 0) AS n FROM auth_failure_counts WHERE kind = 'signin' AND source = '127.0.0.1'`))[0]!.n);
  const before = await count();
  await page.goto(`${base()}/signin`);
  await page.getByLabel("Email").fill("alice@example.com");
  await page.getByLabel("Password").fill("not-her-password");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(page.getByText("Wrong email or password,")).toBeVisible();
  // Counted per source (the real TCP peer) and minute, not one audit row each.
  expect(await count()).toBe(before + 1);
  expect(await query(`SELECT 1 FROM audit_events WHERE action = 'auth.signin' AND outcome = 'failure'`)).toHaveLength(0);
});

test("dev requests test on the image page, alice approves it on the request page, and the signature appears verified", async ({ browser, request }) => {
  // The test stage's gate judges a vulnerability scan: CI uploads one (medium findings only), with a token that is not
  // dev's (here the admin's): dev's own unsigned scan would not count for dev's request (four eyes on evidence).
  const detail = await (
    await request.get(`${base()}/api/v1/images/publisher/base@${PUBLISHER_DIGEST}?registry=default`, { headers: bearer("dev@example.com") })
  ).json();
  await uploadEvidence(
    request,
    "admin@example.com",
    "publisher/base",
    PUBLISHER_DIGEST,
    trivyFor("publisher/base", PUBLISHER_DIGEST, detail.manifest.config.digest),
  );

  const dev = await pageAs(browser, "dev@example.com");
  await dev.goto(imageUrl("publisher/base", PUBLISHER_DIGEST));
  await expect(dev.getByTestId("full-digest")).toHaveText(PUBLISHER_DIGEST);
  const card = dev.getByTestId("promotion-test");
  await card.getByLabel("Note for the reviewers").fill("release 1.0 candidate");
  await card.getByRole("button", { name: "Request promotion to test" }).click();
  await expect(dev).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  const requestId = dev.url().split("/").pop()!;
  await expect(dev.getByTestId("request-state")).toHaveText("awaiting review: 0 of 1 approval");
  await expect(dev.getByTestId("request-note")).toHaveText("release 1.0 candidate");

  const page = await pageAs(browser, "alice@example.com");
  await expect(page.getByTestId("inbox-count")).not.toHaveText("0");
  await page.goto(`${base()}/requests`);
  const row = page.locator(`[data-testid="request-row"][data-request-id="${requestId}"]`);
  await expect(row).toContainText("Dev Eloper");
  await row.getByRole("link", { name: "Review" }).click();
  await expect(page.getByTestId("gate-findings")).toHaveAttribute("data-passed", "true");
  await expect(page.getByTestId("approvals-summary")).toHaveText("needs 1 approval from group security, has 0");
  await page.getByLabel("Comment").fill("CVE scan clean, SBOM reviewed");
  await page.getByRole("button", { name: "Approve", exact: true }).click();
  await expect(page.getByTestId("review-outcome")).toHaveText("Approved and signed: the stage signature is in the registry.");
  await expect(page.getByTestId("stage-signature")).toHaveAttribute("data-status", "signed");
  await expect(page.getByTestId("request-state")).toHaveText("signed: the stage signature is in the registry");
  await expect(page.getByTestId("review")).toContainText("CVE scan clean, SBOM reviewed");

  await page.getByTestId("request-image").click();
  await expect(page.getByTestId("full-digest")).toHaveText(PUBLISHER_DIGEST);
  const sigs = page.getByTestId("signature");
  await expect(sigs).toHaveCount(2);
  const stageSig = sigs.filter({ hasText: "stage:test" });
  await expect(stageSig).toHaveCount(1);
  await expect(stageSig).toHaveAttribute("data-verdict", "verified");
  await expect(page.getByTestId("stage-test")).toContainText("approved");
  await expect(page.getByTestId("approval")).toContainText("CVE scan clean, SBOM reviewed");

  mkdirSync("test-results/artifacts", { recursive: true });
  await page.screenshot({ path: "test-results/artifacts/image-page.png", fullPage: true });

  // What the browser showed is what Postgres and the registry hold.
  const approvals = await query<{ status: string; comment: string; layer_digest: string; request_id: string }>(
    `SELECT a.status, a.comment, a.layer_digest, a.request_id FROM approvals a JOIN images i ON i.id = a.image_id WHERE i.digest = $1`,
    [PUBLISHER_DIGEST],
  );
  expect(approvals).toHaveLength(1);
  expect(approvals[0]!.status).toBe("signed");
  expect(approvals[0]!.request_id).toBe(requestId);
  const client = new RegistryClient({ url: process.env.E2E_REGISTRY_URL! });
  const m = await client.getManifest("publisher/base", `${PUBLISHER_DIGEST.replace(":", "-")}.sig`);
  const parsed = parseManifest(m.bytes, m.mediaType);
  expect(parsed.kind === "manifest" && parsed.manifest.layers.map((l) => l.digest)).toContain(approvals[0]!.layer_digest);
});

test("a multi-platform index is approved by its index digest and its platforms show as covered", async ({ page, request }) => {
  const list = await (
    await request.get(`${base()}/api/v1/images?registry=default&repository=apps/web-frontend&tag=1.0`, { headers: bearer("dev@example.com") })
  ).json();
  const index = list.items[0].digest as string;
  const id = await requestPromotionApi(request, "dev@example.com", "apps/web-frontend", index, "build", "index build");
  await signIn(page, "bob@example.com", "bob-demo-pass");
  await page.goto(`${base()}/images`);
  const row = page.locator('[data-testid="image-row"][data-repository="apps/web-frontend"]');
  await expect(row).toContainText("linux/arm64/v8");
  await row.getByTestId("digest-link").click();
  await expect(page.getByTestId("platforms")).toContainText("linux/amd64");
  await page.getByTestId("promotion-build").getByTestId("promotion-request-link").click();
  await expect(page).toHaveURL(new RegExp(`/requests/${id}$`));
  await page.getByLabel("Comment").fill("index approval");
  await page.getByRole("button", { name: "Approve", exact: true }).click();
  await expect(page.getByTestId("review-outcome")).toContainText("Approved and signed");
  await page.getByTestId("request-image").click();
  await expect(page.getByTestId("platforms")).toContainText("stage build (index signature)");
});

test("a developer can request but not review: no approve button, and the reviews API answers 403", async ({ page, request }) => {
  const id = await requestPromotionApi(request, "dev@example.com", "publisher/base", PUBLISHER_DIGEST, "prod", "please");
  await signIn(page, "dev@example.com", "dev-demo-pass");
  await page.goto(imageUrl("publisher/base", PUBLISHER_DIGEST));
  await expect(page.getByTestId("full-digest")).toHaveText(PUBLISHER_DIGEST);
  await page.getByTestId("promotion-prod").getByTestId("promotion-request-link").click();
  await expect(page.getByRole("button", { name: /Approve/ })).toHaveCount(0);
  await expect(page.getByTestId("viewer-reasons")).toContainText("reviewing needs role reviewer or admin; you are developer");
  await expect(page.getByTestId("viewer-reasons")).toContainText("you requested this promotion; four eyes: the requester cannot approve it");
  // Same-origin (as the UI's own fetch): refused for the role, not for being cross-site.
  const res = await page.request.post(`${base()}/api/v1/requests/${id}/reviews`, {
    headers: { origin: base() },
    data: { decision: "approve", comment: "sneaky" },
  });
  expect(res.status()).toBe(403);
  expect((await res.json()).error.code).toBe("FORBIDDEN");
  // Denials are staged (one INSERT) and folded into the hash chain in batches; either place counts.
  const denied = await query(
    `SELECT 1 FROM audit_events WHERE action = 'request.denied' AND actor_label = 'dev@example.com' UNION ALL SELECT 1 FROM audit_outbox WHERE action = 'request.denied' AND actor_label = 'dev@example.com'`,
  );
  expect(denied.length).toBeGreaterThan(0);
  const prod = await query(
    `SELECT 1 FROM approvals a JOIN stages s ON s.id = a.stage_id JOIN images i ON i.id = a.image_id WHERE s.name = 'prod' AND i.digest = $1`,
    [PUBLISHER_DIGEST],
  );
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
  // Each event reads as a sentence with links; the raw row is one click away.
  const approval = rows.filter({ hasText: "approval.create" }).filter({ hasText: PUBLISHER_DIGEST });
  await expect(approval.getByTestId("audit-sentence")).toContainText(`publisher/base@${PUBLISHER_DIGEST.slice(0, 19)}… is approved for test`);
  await expect(approval.getByTestId("audit-sentence").getByRole("link", { name: "test", exact: true })).toHaveAttribute("href", "/stages#stage-test");
  await approval.getByText("raw", { exact: true }).click();
  await expect(approval.locator("pre")).toContainText(`"hash":`);
  // Filters live in the URL: the review family only.
  await page.getByLabel("Action").selectOption("review");
  await page.getByRole("button", { name: "Filter", exact: true }).click();
  await expect(page).toHaveURL(/action=review/);
  const reviewActions = await page.getByTestId("audit-row").evaluateAll((els) => els.map((e) => e.getAttribute("data-action")));
  expect(reviewActions.length).toBeGreaterThan(0);
  expect(reviewActions.every((a) => a?.startsWith("review."))).toBe(true);
  // A malformed filter is explained, not a crash.
  await page.goto(`${base()}/audit?from=yesterday`);
  await expect(page.getByTestId("filter-error")).toContainText("from must be a date");
});

test("a developer cannot read the audit trail", async ({ page }) => {
  await signIn(page, "dev@example.com", "dev-demo-pass");
  await page.goto(`${base()}/audit`);
  await expect(page.getByText("The audit trail is open to admins and managers.")).toBeVisible();
  const res = await page.request.get(`${base()}/api/v1/audit`);
  expect(res.status()).toBe(403);
});
