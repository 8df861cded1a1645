import { expect, type APIRequestContext, type Locator, type Page } from "@playwright/test";
import { randomUUID } from "node:crypto";
import { base, pushOwnImage, query, token, trivyFor } from "./helpers";

// Minting a token runs the CLI (seconds on a busy machine): one per user per spec file.
const tokens = new Map<string, string>();
export function auth(email: string): { Authorization: string } {
  if (!tokens.has(email)) tokens.set(email, token(email));
  return { Authorization: `Bearer ${tokens.get(email)}` };
}

/** Queues a sync as an admin and waits until it has finished. */
export async function syncNow(request: APIRequestContext) {
  const res = await request.post(`${base()}/api/v1/sync`, { headers: auth("admin@example.com"), data: { registry: "default" } });
  expect(res.status()).toBe(202);
  const { id } = await res.json();
  await expect
    .poll(async () => (await (await request.get(`${base()}/api/v1/sync-runs/${id}`, { headers: auth("admin@example.com") })).json()).status, {
      timeout: 90_000,
    })
    .not.toMatch(/^(queued|running)$/);
}

async function upload(request: APIRequestContext, repo: string, digest: string, body: Buffer) {
  const res = await request.post(`${base()}/api/v1/images/${repo}@${digest}/evidence?registry=default`, {
    headers: { ...auth("dev@example.com"), "content-type": "application/json" },
    data: body,
  });
  expect([200, 201], await res.text()).toContain(res.status());
}

export async function requestPromotion(request: APIRequestContext, repo: string, digest: string, stage: string, note = "via API"): Promise<string> {
  const res = await request.post(`${base()}/api/v1/requests`, {
    headers: auth("dev@example.com"),
    data: { registry: "default", repository: repo, digest, stage, note },
  });
  expect([200, 201], await res.text()).toContain(res.status());
  return (await res.json()).id as string;
}

/** A CycloneDX SBOM naming one package, so a fleet search (and a bulk revocation) finds exactly this image. */
export function sbomWith(name: string, version: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: [{ type: "library", name, version, purl: `pkg:npm/${name}@${version}` }],
    }),
  );
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
  await upload(request, repo, digest, trivyFor(repo, digest, configDigest));
  const pkg = `${marker.replace(/[^a-z0-9-]/g, "-")}-lib`;
  await upload(request, repo, digest, sbomWith(pkg, "1.0.0"));
  const requestId = await requestPromotion(request, repo, digest, "build");
  const res = await request.post(`${base()}/api/v1/requests/${requestId}/reviews`, {
    headers: auth("alice@example.com"),
    data: { decision: "approve", comment: "approved via API" },
  });
  expect(res.status(), await res.text()).toBe(201);
  expect((await res.json()).status).toBe("signed");
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
