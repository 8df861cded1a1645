import { expect, test } from "@playwright/test";
import { RegistryClient } from "../lib/oci/client";
import { parseManifest } from "../lib/oci/manifest";
import { approveApi, base, bearer, imageUrl, pageAs, pushOwnImage, query, requestPromotionApi, syncNow } from "./helpers";

const sigTag = (digest: string) => `${digest.replace(":", "-")}.sig`;

async function sigLayers(repository: string, digest: string) {
  const client = new RegistryClient({ url: process.env.E2E_REGISTRY_URL! });
  const m = await client.getManifest(repository, sigTag(digest));
  const p = parseManifest(m.bytes, m.mediaType);
  if (p.kind !== "manifest") throw new Error("not a manifest");
  return p.manifest.layers;
}

test("a reviewer revokes a stage approval from the image page: reason required, confirm dialog, the layer leaves the registry, verify denies 'revoked'", async ({
  browser,
  request,
}) => {
  // Several CLI token mints and a sync on a shared machine: slower than the default minute, never a timing assertion.
  test.setTimeout(240_000);
  const alice = bearer("alice@example.com");
  const devH = bearer("dev@example.com");
  const repo = "e2e/revoke";
  const { digest } = await pushOwnImage(repo, "revoke");
  await syncNow(request);
  const requestId = await requestPromotionApi(request, "dev@example.com", repo, digest, "build");
  await approveApi(request, "alice@example.com", requestId);
  const [approval] = await query<{ id: string; layer_digest: string; timestamp_at: Date | null }>(
    `SELECT id, layer_digest, timestamp_at FROM approvals WHERE request_id = $1`,
    [requestId],
  );
  // The e2e server runs with a real TSA: the signature carries a trusted RFC 3161 time.
  expect(approval!.timestamp_at).not.toBeNull();
  expect((await sigLayers(repo, digest)).map((l) => l.digest)).toEqual([approval!.layer_digest]);

  // The API refuses a revocation without a reason (422 naming the field) and a developer (403); nothing changes.
  const noReason = await request.post(`${base()}/api/v1/approvals/${approval!.id}/revoke`, { headers: alice, data: {} });
  expect(noReason.status()).toBe(422);
  expect((await noReason.json()).error.code).toBe("INVALID_INPUT");
  const dev = await request.post(`${base()}/api/v1/approvals/${approval!.id}/revoke`, { headers: devH, data: { reason: "not mine to take" } });
  expect(dev.status()).toBe(403);
  expect((await query(`SELECT revoked_at FROM approvals WHERE id = $1`, [approval!.id]))[0]!.revoked_at).toBeNull();

  const page = await pageAs(browser, "alice@example.com");
  await page.goto(imageUrl(repo, digest));
  await expect(page.getByTestId("approval-time")).toContainText("RFC 3161");
  await page.getByTestId("revoke-approval").click();
  const dialog = page.getByRole("dialog");
  await expect(dialog).toContainText("Verify and ImageReview deny");
  await expect(dialog).toContainText("kept byte-for-byte");
  await dialog.getByLabel("Reason (required)").fill("built from a compromised dependency");
  await dialog.getByRole("button", { name: "Revoke approval" }).click();
  await expect(page.getByTestId("approval-revoked")).toContainText("built from a compromised dependency");
  // The signed request is history now: the promotion panel says so and offers a new request (a renewal).
  await page.reload();
  const panel = page.getByTestId("promotion-build");
  await expect(panel.getByTestId("promotion-request-link")).toHaveText("signed, then revoked: request it again to renew");
  await expect(panel.getByRole("button", { name: "Request promotion to build" })).toBeVisible();

  const [row] = await query<{ revoked_by: string; revocation_state: string }>(`SELECT revoked_by, revocation_state FROM approvals WHERE id = $1`, [
    approval!.id,
  ]);
  expect(row).toMatchObject({ revoked_by: "alice@example.com", revocation_state: "removed" });
  expect(await sigLayers(repo, digest)).toEqual([]);
  const host = new URL(process.env.E2E_REGISTRY_URL!).host;
  const verdict = await (
    await request.get(`${base()}/api/v1/verify?image=${encodeURIComponent(`${host}/${repo}@${digest}`)}&stage=build`, { headers: devH })
  ).json();
  expect(verdict.allowed).toBe(false);
  expect(verdict.reasons.join(" ")).toMatch(/revoked/);
  const again = await request.post(`${base()}/api/v1/approvals/${approval!.id}/revoke`, { headers: bearer("admin@example.com"), data: { reason: "again" } });
  expect(again.status()).toBe(200);
  expect(await again.json()).toMatchObject({ alreadyRevoked: true, reason: "built from a compromised dependency" });
});
