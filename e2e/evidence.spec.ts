import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { base, query, signIn, token } from "./helpers";

test("CI uploads a Trivy report and an SBOM; a reviewer sees them and finds the image through the fleet search", async ({ page, request }) => {
  const ci = { Authorization: `Bearer ${token("dev@example.com")}` };
  const list = await (await request.get(`${base()}/api/v1/images?repository=platform/base-hardened&tag=1.1`, { headers: ci })).json();
  const img = list.items[0];
  const detail = await (await request.get(`${base()}/api/v1/images/platform/base-hardened@${img.digest}`, { headers: ci })).json();
  const configDigest: string = detail.manifest.config.digest;

  // Real tool outputs, re-pointed at this image (a document that names a subject must name this image).
  const trivy = JSON.parse(readFileSync("lib/evidence/testdata/trivy-alpine-3.10-schema2.json", "utf8"));
  trivy.Metadata.ImageID = configDigest;
  trivy.Metadata.RepoDigests = [`platform/base-hardened@${img.digest}`];
  const sbom = JSON.parse(readFileSync("lib/evidence/testdata/syft-alpine-3.16-cyclonedx-1.4.json", "utf8"));
  if (sbom.metadata?.component) sbom.metadata.component.version = configDigest;

  const url = `${base()}/api/v1/images/platform/base-hardened@${img.digest}/evidence`;
  const up1 = await request.post(url, { headers: { ...ci, "content-type": "application/json" }, data: Buffer.from(JSON.stringify(trivy)) });
  expect(up1.status()).toBe(201);
  const up2 = await request.post(url, { headers: { ...ci, "content-type": "application/json" }, data: Buffer.from(JSON.stringify(sbom)) });
  expect(up2.status()).toBe(201);
  const again = await request.post(url, { headers: { ...ci, "content-type": "application/json" }, data: Buffer.from(JSON.stringify(sbom)) });
  expect(again.status()).toBe(200);
  expect((await again.json()).created).toBe(false);
  const foreign = await request.post(url, {
    headers: { ...ci, "content-type": "application/json" },
    data: readFileSync("lib/evidence/testdata/trivy-alpine-3.10-schema2.json"),
  });
  expect(foreign.status()).toBe(422);
  expect((await foreign.json()).error.message).toMatch(/names sha256:[a-f0-9]{64}.*not this image/);
  const garbage = await request.post(url, { headers: { ...ci, "content-type": "application/json" }, data: Buffer.from("{nope") });
  expect(garbage.status()).toBe(400);
  const docs = await query(
    `SELECT d.format, d.uploaded_by FROM evidence_documents d JOIN images i ON i.id = d.image_id WHERE i.digest = $1 ORDER BY d.format`,
    [img.digest],
  );
  expect(docs.map((d) => d.format)).toEqual(["cyclonedx", "trivy"]);

  await signIn(page, "alice@example.com", "alice-demo-pass");
  await page.goto(`${base()}/images/platform/base-hardened@${img.digest}?tab=vulnerabilities`);
  await expect(page.getByTestId("vuln-row")).toHaveCount(trivy.Results.flatMap((r: { Vulnerabilities?: unknown[] }) => r.Vulnerabilities ?? []).length);
  await expect(page.getByTestId("documents")).toContainText("uploaded by dev@example.com (token)");
  await page.goto(`${base()}/images/platform/base-hardened@${img.digest}?tab=sbom`);
  await expect(page.getByTestId("component-row")).toHaveCount(sbom.components.length);

  await page.goto(`${base()}/search`);
  await page.getByLabel("Package query").fill("busybox");
  await page.getByRole("button", { name: "Search" }).click();
  const row = page.getByTestId("search-row").filter({ hasText: img.digest.slice(0, 19) });
  await expect(row).toHaveCount(1);
  await expect(row).toContainText("1.1");
  await page.getByLabel("Package query").fill("busybox < 0.1");
  await page.getByRole("button", { name: "Search" }).click();
  await expect(page.getByTestId("search-count")).toHaveText("0 images");

  await page.goto(`${base()}/images?repository=platform/base-hardened&tag=1.1`);
  await expect(page.getByTestId("severity-summary").first()).not.toHaveText("no scan");
});
