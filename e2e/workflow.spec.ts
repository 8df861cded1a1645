import { expect, test } from "@playwright/test";
import { RegistryClient } from "../lib/oci/client";
import { parseManifest } from "../lib/oci/manifest";
import { approveApi, base, bearer, imageUrl, pageAs, pushOwnImage, query, requestPromotionApi, syncNow, trivyFor, uploadEvidence } from "./helpers";

async function sigLayers(repository: string, digest: string): Promise<string[]> {
  const client = new RegistryClient({ url: process.env.E2E_REGISTRY_URL! });
  const m = await client.getManifest(repository, `${digest.replace(":", "-")}.sig`);
  const parsed = parseManifest(m.bytes, m.mediaType);
  return parsed.kind === "manifest" ? parsed.manifest.layers.map((l) => l.digest) : [];
}

test("happy path: a developer requests prod, alice approves (1 of 2, not signed), bob approves and the signature appears; the developer's view updates", async ({
  browser,
  request,
}) => {
  // platform/base-hardened:1.0 carries the seeded Trivy report (medium findings only) and a CycloneDX SBOM:
  // prod's findings and SBOM gates hold. Its previous-stage gate needs test signed first, done through the API.
  const list = await (
    await request.get(`${base()}/api/v1/images?registry=default&repository=platform/base-hardened&tag=1.0`, { headers: bearer("dev@example.com") })
  ).json();
  const digest = list.items[0].digest as string;
  const testId = await requestPromotionApi(request, "dev@example.com", "platform/base-hardened", digest, "test", "ci: tests green");
  expect((await approveApi(request, "carol@example.com", testId, "test ok")).status).toBe("signed");

  const dev = await pageAs(browser, "dev@example.com");
  await dev.goto(imageUrl("platform/base-hardened", digest));
  await expect(dev.getByTestId("promotion-test")).toContainText("approved");
  const card = dev.getByTestId("promotion-prod");
  await card.getByLabel("Note for the reviewers").fill("ship hardened base 1.0");
  await card.getByRole("button", { name: "Request promotion to prod" }).click();
  await expect(dev).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  const prodId = dev.url().split("/").pop()!;
  await expect(dev.getByTestId("request-state")).toHaveText("awaiting review: 0 of 2 approvals");
  for (const gate of ["findings", "sbom", "previousStage"]) await expect(dev.getByTestId(`gate-${gate}`)).toHaveAttribute("data-passed", "true");
  await expect(dev.getByTestId("gate-findings").getByTestId("gate-detail")).toHaveText("critical findings with a fix 0 ≤ 0, high findings with a fix 0 ≤ 3");

  // alice: the first of two approvals is recorded, nothing is signed yet.
  const alice = await pageAs(browser, "alice@example.com");
  await alice.goto(`${base()}/requests?view=inbox`);
  await alice.locator(`[data-testid="request-row"][data-request-id="${prodId}"]`).getByRole("link", { name: "Review" }).click();
  await alice.getByLabel("Comment").fill("findings and SBOM reviewed");
  await alice.getByRole("button", { name: "Approve", exact: true }).click();
  await expect(alice.getByTestId("review-outcome")).toHaveText("Approval recorded: 1 of 2.");
  await expect(alice.getByTestId("request-state")).toHaveText("awaiting review: 1 of 2 approvals");
  await expect(alice.getByTestId("approvals-summary")).toHaveText("needs 2 approvals from group security, has 1 (Alice Reviewer)");
  await expect(alice.getByTestId("stage-signature")).toHaveAttribute("data-status", "none");
  await expect(alice.getByRole("button", { name: "Approve", exact: true })).toHaveCount(0);
  await expect(alice.getByTestId("viewer-reviewed")).toContainText("You approved this request");
  expect(await query(`SELECT 1 FROM approvals WHERE request_id = $1`, [prodId])).toHaveLength(0);
  await alice.goto(`${base()}/requests?view=inbox`);
  await expect(alice.locator(`[data-testid="request-row"][data-request-id="${prodId}"]`)).toHaveCount(0);

  // The developer sees what still blocks prod.
  await dev.goto(`${base()}/my`);
  const mine = dev.locator(`[data-testid="my-image"][data-digest="${digest}"]`);
  await expect(mine.getByTestId("current-stage")).toHaveText("test");
  await expect(mine.getByTestId("next-stage")).toContainText("prod");
  await expect(mine.getByTestId("blockers")).toContainText("needs 2 approvals from group security, has 1 (Alice Reviewer)");

  // bob: the second distinct approval; the server signs and pushes the prod signature.
  const bob = await pageAs(browser, "bob@example.com");
  await bob.goto(`${base()}/requests/${prodId}`);
  await bob.getByLabel("Comment").fill("second pair of eyes");
  await bob.getByRole("button", { name: "Approve", exact: true }).click();
  await expect(bob.getByTestId("review-outcome")).toHaveText("Approved and signed: the stage signature is in the registry.");
  await expect(bob.getByTestId("request-state")).toHaveText("signed: the stage signature is in the registry");
  await expect(bob.getByTestId("stage-signature")).toHaveAttribute("data-status", "signed");
  await expect(bob.getByTestId("review")).toHaveCount(2);
  const layer = (await bob.getByTestId("signature-layer").textContent())!.trim();
  await bob.getByTestId("request-image").click();
  await expect(bob.getByTestId("stage-prod")).toContainText("approved");
  await expect(bob.getByTestId("signature").filter({ hasText: "stage:prod" })).toHaveAttribute("data-verdict", "verified");

  await dev.reload();
  await expect(mine.getByTestId("current-stage")).toHaveText("prod");
  // (Other specs may append stages after prod, so only check prod is no longer what comes next.)
  await expect(mine.getByTestId("next-stage")).not.toContainText("prod");

  // Postgres and the registry hold what the pages showed.
  const reviews = await query<{ decision: string }>(`SELECT decision FROM reviews WHERE request_id = $1`, [prodId]);
  expect(reviews.map((r) => r.decision)).toEqual(["approve", "approve"]);
  const approvals = await query<{ status: string; layer_digest: string }>(`SELECT status, layer_digest FROM approvals WHERE request_id = $1`, [prodId]);
  expect(approvals).toEqual([{ status: "signed", layer_digest: layer }]);
  expect(await sigLayers("platform/base-hardened", digest)).toContain(layer);
});

test("refused and waived: the requester cannot approve, a failing gate is explained, carol waives it, alice approves and it is signed", async ({
  browser,
  request,
}) => {
  const repo = "e2e/waiver-demo";
  const { digest, configDigest } = await pushOwnImage(repo, "waiver");
  await syncNow(request);
  // CI uploads a scan in which CVE-2019-1549 (with a fix) is critical: the test stage allows 0.
  await uploadEvidence(request, "dev@example.com", repo, digest, trivyFor(repo, digest, configDigest, ["CVE-2019-1549"]));

  // bob (a security reviewer) requests test himself; four eyes keeps him from approving it.
  const bob = await pageAs(browser, "bob@example.com");
  await bob.goto(imageUrl(repo, digest));
  const card = bob.getByTestId("promotion-test");
  await card.getByLabel("Note for the reviewers").fill("needs a waiver, see scan");
  await card.getByRole("button", { name: "Request promotion to test" }).click();
  await expect(bob).toHaveURL(/\/requests\/[0-9a-f-]{36}$/);
  const id = bob.url().split("/").pop()!;
  await expect(bob.getByTestId("viewer-reasons")).toContainText("you requested this promotion; four eyes: the requester cannot approve it");
  await expect(bob.getByRole("button", { name: "Approve", exact: true })).toHaveCount(0);
  const refused = await request.post(`${base()}/api/v1/requests/${id}/reviews`, {
    headers: bearer("bob@example.com"),
    data: { decision: "approve", comment: "mine anyway" },
  });
  expect(refused.status()).toBe(403);
  const refusal = (await refused.json()).error;
  expect(refusal.code).toBe("FORBIDDEN");
  expect(refusal.message).toContain("four eyes");

  // The failing gate is explained on the review page, in the server's words.
  const failDetail = "critical findings with a fix 1 > 0 allowed: CVE-2019-1549";
  const gate = bob.getByTestId("gate-findings");
  await expect(gate).toHaveAttribute("data-passed", "false");
  await expect(gate.getByTestId("gate-detail")).toHaveText(failDetail);

  // alice may review, but the gate refuses her approval until it is waived; the refusal is shown as is.
  const alice = await pageAs(browser, "alice@example.com");
  await alice.goto(`${base()}/requests/${id}`);
  await expect(alice.getByTestId("failing-gates-warning")).toContainText("vulnerability findings");
  await alice.getByLabel("Comment").fill("looks fine");
  await alice.getByRole("button", { name: "Approve", exact: true }).click();
  await expect(alice.getByTestId("review-actions").getByRole("alert")).toContainText(
    `vulnerability findings: ${failDetail}. A waiver from the stage's waiver group is needed`,
  );
  expect(await query(`SELECT 1 FROM reviews WHERE request_id = $1`, [id])).toHaveLength(0);

  // carol (security-leads) waives exactly that CVE for this digest, in the browser.
  const carol = await pageAs(browser, "carol@example.com");
  await carol.goto(`${base()}/requests/${id}`);
  await carol.getByTestId("gate-findings").getByRole("button", { name: "Waive vulnerability findings…" }).click();
  const form = carol.getByTestId("waiver-form-findings");
  await expect(form.getByLabel(/Vulnerability ids/)).toHaveValue("CVE-2019-1549");
  await expect(form.getByLabel("Scope")).toHaveValue("digest");
  await form.getByLabel("Waiver reason").fill("openssl not reachable from the network in this image");
  await form.getByRole("button", { name: "Grant waiver" }).click();
  await expect(carol.getByTestId("gate-findings")).toHaveAttribute("data-passed", "true");
  await expect(carol.getByTestId("gate-findings")).toHaveAttribute("data-waived", "true");
  await expect(carol.getByTestId("gate-findings").getByTestId("gate-detail")).toHaveText("critical findings with a fix 0 ≤ 0 (1 waived by 1 waiver)");
  const waiver = carol.getByTestId("waiver");
  await expect(waiver.getByTestId("waiver-reason")).toHaveText("openssl not reachable from the network in this image");
  await expect(waiver.getByTestId("waiver-grantor")).toHaveText("Carol Security Lead");

  // Now alice's approval counts, and as the only one needed it is signed.
  await alice.reload();
  await alice.getByLabel("Comment").fill("accepted with carol's waiver");
  await alice.getByRole("button", { name: "Approve", exact: true }).click();
  await expect(alice.getByTestId("review-outcome")).toHaveText("Approved and signed: the stage signature is in the registry.");
  await expect(alice.getByTestId("stage-signature")).toHaveAttribute("data-status", "signed");
  await expect(alice.getByTestId("review")).toContainText("relied on 1 waiver");
  await expect(alice.getByTestId("waiver").getByTestId("waiver-reason")).toHaveText("openssl not reachable from the network in this image");

  // The waiver list shows it, and which request relied on it.
  await carol.goto(`${base()}/waivers`);
  const w = await query<{ id: string; vuln_ids: string[]; digest: string; reason: string }>(
    `SELECT id, vuln_ids, digest, reason FROM waivers WHERE digest = $1`,
    [digest],
  );
  expect(w).toHaveLength(1);
  expect(w[0]!.vuln_ids).toEqual(["CVE-2019-1549"]);
  const row = carol.locator(`[data-testid="waiver-row"][data-waiver-id="${w[0]!.id}"]`);
  await expect(row).toHaveAttribute("data-state", "active");
  await expect(row).toContainText(`request ${id.slice(0, 8)}`);

  const reviews = await query<{ waiver_ids: string[] }>(`SELECT waiver_ids FROM reviews WHERE request_id = $1`, [id]);
  expect(reviews).toEqual([{ waiver_ids: [w[0]!.id] }]);
  const approvals = await query<{ status: string; layer_digest: string }>(`SELECT status, layer_digest FROM approvals WHERE request_id = $1`, [id]);
  expect(approvals).toHaveLength(1);
  expect(approvals[0]!.status).toBe("signed");
  expect(await sigLayers(repo, digest)).toContain(approvals[0]!.layer_digest);

  // Revoking ends the waiver early; the signed approval that relied on it stays on the record.
  await row.getByRole("button", { name: "Revoke…" }).click();
  await row.getByLabel("Reason for revoking").fill("openssl upgraded upstream");
  await row.getByRole("button", { name: "Revoke", exact: true }).click();
  await expect(row).toHaveAttribute("data-state", "revoked");
  expect((await query<{ revoked: boolean }>(`SELECT revoked_at IS NOT NULL AS revoked FROM waivers WHERE id = $1`, [w[0]!.id]))[0]!.revoked).toBe(true);
});

test("an admin edits a stage: the API's validation error is shown verbatim and nothing is written", async ({ browser }) => {
  const before = await query(`SELECT required_approvals, gates FROM stages WHERE name = 'prod'`);
  const admin = await pageAs(browser, "admin@example.com");
  await admin.goto(`${base()}/stages`);
  const card = admin.locator('[data-testid="stage-card"][data-name="prod"]');
  await expect(card.getByTestId("stage-approvals")).toHaveText("2 approvals from group security");
  await expect(card.getByTestId("stage-gates")).toContainText("findings critical ≤ 0, high ≤ 3, counting only findings with a fix");
  await card.getByRole("button", { name: "Edit" }).click();
  await card.getByLabel("Required approvals (N distinct)").fill("0");
  await card.getByRole("button", { name: "Save stage" }).click();
  await expect(card.getByRole("alert")).toHaveText("requiredApprovals: Too small: expected number to be >=1");
  expect(await query(`SELECT required_approvals, gates FROM stages WHERE name = 'prod'`)).toEqual(before);

  // A reviewer reads the same page without the edit buttons.
  const alice = await pageAs(browser, "alice@example.com");
  await alice.goto(`${base()}/stages`);
  await expect(alice.locator('[data-testid="stage-card"][data-name="prod"]')).toContainText("an SBOM is present");
  await expect(alice.getByRole("button", { name: "Edit" })).toHaveCount(0);
});
