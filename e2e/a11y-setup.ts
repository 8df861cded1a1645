import { expect, type APIRequestContext, type Locator, type Page } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { approveApi, pushOwnImage, query, requestPromotionApi, syncNow, trivyFor, uploadEvidence } from "./helpers";

/** A CycloneDX SBOM naming one package, so a fleet search (and a bulk revocation) finds exactly this image. */
export function sbomWith(name: string, version: string): Buffer {
  return Buffer.from(JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.4", version: 1, serialNumber: `urn:uuid:${randomUUID()}`, components: [{ type: "library", name, version, purl: `pkg:npm/${name}@${version}` }] }));
}

export interface ApprovedImage {
  repo: string;
  digest: string;
  requestId: string;
  approvalId: string;
  pkg: string;
}

/**
 * Real data through the product's own API: an image pushed to the registry, synced, with a Trivy scan and an SBOM,
 * promoted to build (requested by dev, approved and signed by alice).
 */
export async function approvedImage(request: APIRequestContext, repo: string, marker: string): Promise<ApprovedImage> {
  const { digest, configDigest } = await pushOwnImage(repo, marker);
  await syncNow(request);
  await uploadEvidence(request, "dev@example.com", repo, digest, trivyFor(repo, digest, configDigest));
  const pkg = `${marker.replace(/[^a-z0-9-]/g, "-")}-lib`;
  await uploadEvidence(request, "dev@example.com", repo, digest, sbomWith(pkg, "1.0.0"));
  const requestId = await requestPromotionApi(request, "dev@example.com", repo, digest, "build");
  const review = await approveApi(request, "alice@example.com", requestId);
  expect(review.status).toBe("signed");
  const [row] = await query<{ id: string }>(`SELECT id FROM approvals WHERE request_id = $1`, [requestId]);
  const approvalId = row!.id;
  return { repo, digest, requestId, approvalId, pkg };
}

/** Presses Tab (at most `max` times) until `target` has the focus: proves it is reachable from the keyboard. */
export async function tabTo(page: Page, target: Locator, max = 80) {
  const handle = await target.elementHandle();
  for (let i = 0; i < max; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((el) => el === document.activeElement, handle)) return;
  }
  throw new Error(`could not reach ${target} with ${max} presses of Tab`);
}
