import { expect, test, type APIRequestContext } from "@playwright/test";
import { approvedImage, auth, requestPromotion, sbomWith, syncNow } from "./a11y-setup";
import { base, imageUrl, pageAs, pushOwnImage, query } from "./helpers";

const admin = () => auth("admin@example.com");

async function keyHistory(request: APIRequestContext, stage: string) {
  const r = await request.get(`${base()}/api/v1/keys/stages/${stage}`, { headers: admin() });
  expect(r.status()).toBe(200);
  return (await r.json()) as { keys: { name: string; fingerprint: string; retiredAt: string | null; revokedAt: string | null }[] };
}
const currentKey = (h: Awaited<ReturnType<typeof keyHistory>>) => h.keys.filter((k) => !k.retiredAt && !k.revokedAt).map((k) => k.name);

async function verifyAllowed(request: APIRequestContext, repo: string, digest: string, stage: string): Promise<boolean> {
  const host = new URL(process.env.E2E_REGISTRY_URL!).host;
  const v = await (
    await request.get(`${base()}/api/v1/verify?image=${encodeURIComponent(`${host}/${repo}@${digest}`)}&stage=${stage}`, { headers: auth("dev@example.com") })
  ).json();
  return v.allowed as boolean;
}

test("rotating a stage key asks first, naming the images signed by the retiring key; cancel changes nothing, confirm rotates and reports the new key", async ({
  browser,
  request,
}) => {
  test.setTimeout(600_000);
  const img = await approvedImage(request, "e2e/confirm-rotate", "confirm-rotate");
  const before = await keyHistory(request, "build");
  expect(currentKey(before)).toHaveLength(1);

  // The preview API: read-only, admins only, names this image.
  const preview = await request.get(`${base()}/api/v1/keys/stages/build/preview`, { headers: admin() });
  expect(preview.status()).toBe(200);
  const p = await preview.json();
  expect(p.retiring.name).toBe(currentKey(before)[0]);
  expect(p.images.map((i: { repository: string; digest: string }) => `${i.repository}@${i.digest}`)).toContain(`${img.repo}@${img.digest}`);
  expect((await request.get(`${base()}/api/v1/keys/stages/build/preview`, { headers: auth("alice@example.com") })).status()).toBe(403);
  expect((await request.get(`${base()}/api/v1/keys/stages/nope/preview`, { headers: admin() })).status()).toBe(404);

  const page = await pageAs(browser, "admin@example.com");
  await page.goto(`${base()}/keys`);
  await page.getByRole("button", { name: "Rotate key of build" }).click();
  const dialog = page.getByRole("dialog", { name: "Rotate the key of stage build?" });
  await expect(dialog).toContainText(img.repo);
  await expect(dialog).toContainText(currentKey(before)[0]!);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toBeHidden();
  expect(await keyHistory(request, "build")).toEqual(before);

  await page.getByRole("button", { name: "Rotate key of build" }).click();
  await dialog.getByRole("button", { name: "Rotate key" }).click();
  await expect(page.getByTestId("key-status-build")).toContainText(/Done: rotated; stage build now signs with stage-build-/);
  const after = await keyHistory(request, "build");
  expect(after.keys).toHaveLength(before.keys.length + 1);
  const [now] = currentKey(after);
  expect(now).not.toBe(currentKey(before)[0]);
  await expect(page.getByTestId("key-status-build")).toContainText(now!);
  // The old approval keeps verifying: rotation retires, it does not revoke.
  expect(await verifyAllowed(request, img.repo, img.digest, "build")).toBe(true);
});

test("revoking asks first: one approval (Esc cancels) and a bulk revocation (the dialog lists the images; cancel writes nothing; confirm shows N of M)", async ({
  browser,
  request,
}) => {
  test.setTimeout(600_000);
  const one = await approvedImage(request, "e2e/confirm-revoke", "confirm-revoke");
  const page = await pageAs(browser, "alice@example.com");
  await page.goto(imageUrl(one.repo, one.digest));
  await page.getByTestId("revoke-approval").click();
  const dialog = page.getByRole("dialog", { name: "Revoke the build approval?" });
  await expect(dialog).toContainText(`${one.repo}@${one.digest.slice(0, 19)}`);
  await expect(dialog.getByRole("button", { name: "Revoke approval" })).toBeDisabled();
  await dialog.getByLabel("Reason (required)").fill("changed my mind");
  await page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();
  expect((await query(`SELECT revoked_at FROM approvals WHERE id = $1`, [one.approvalId]))[0]!.revoked_at).toBeNull();
  expect(await verifyAllowed(request, one.repo, one.digest, "build")).toBe(true);

  // Bulk: two images share a package; the fleet search finds both.
  const a = await approvedImage(request, "e2e/confirm-bulk-a", "confirm-bulk");
  const b = await approvedImage(request, "e2e/confirm-bulk-b", "confirm-bulk");
  expect(a.pkg).toBe(b.pkg);
  const revocationsBefore = (await query<{ n: string }>(`SELECT count(*)::text AS n FROM bulk_revocations`))[0]!.n;
  await page.goto(`${base()}/search?q=${encodeURIComponent(`${a.pkg} < 2.0.0`)}`);
  const panel = page.getByTestId("bulk-revoke");
  await panel.getByLabel("build", { exact: true }).check();
  await panel.getByLabel("Reason").fill("compromised test package");
  await panel.getByRole("button", { name: "Dry run" }).click();
  await expect(panel.getByTestId("bulk-summary")).toContainText("Would revoke 2 approvals on 2 images");
  await panel.getByTestId("bulk-confirm").click();
  const bulk = page.getByRole("dialog", { name: "Revoke 2 approvals on 2 images?" });
  await expect(bulk.getByTestId("affected")).toContainText(a.repo);
  await expect(bulk.getByTestId("affected")).toContainText(b.repo);
  await expect(bulk).toContainText("compromised test package");
  await bulk.getByRole("button", { name: "Cancel" }).click();
  await expect(bulk).toBeHidden();
  expect((await query<{ n: string }>(`SELECT count(*)::text AS n FROM bulk_revocations`))[0]!.n).toBe(revocationsBefore);
  expect(await verifyAllowed(request, a.repo, a.digest, "build")).toBe(true);

  await panel.getByTestId("bulk-confirm").click();
  await bulk.getByRole("button", { name: "Revoke approvals" }).click();
  await expect(panel.getByTestId("bulk-progress")).toHaveText("done: 2 of 2 (0 failed)", { timeout: 60_000 });
  await expect(panel.getByRole("progressbar", { name: "Revocation progress" })).toHaveAttribute("value", "2");
  expect(await verifyAllowed(request, a.repo, a.digest, "build")).toBe(false);
  expect(await verifyAllowed(request, b.repo, b.digest, "build")).toBe(false);
  const rows = await query<{ revocation_reason: string; revocation_source: string }>(
    `SELECT revocation_reason, revocation_source FROM approvals WHERE id = ANY($1::uuid[])`,
    [[a.approvalId, b.approvalId]],
  );
  expect(rows).toHaveLength(2);
  for (const r of rows) {
    expect(r.revocation_source).toBe("bulk");
    expect(r.revocation_reason).toMatch(/^bulk revocation [0-9a-f-]{36}: compromised test package$/);
  }
});

test("break glass asks first, naming the image, the stage and what it overrides; cancel signs nothing, confirm signs as break-glass", async ({
  browser,
  request,
}) => {
  test.setTimeout(600_000);
  const repo = "e2e/confirm-glass";
  const { digest } = await pushOwnImage(repo, "confirm-glass");
  await syncNow(request);
  const requestId = await requestPromotion(request, repo, digest, "build", "urgent fix");
  const page = await pageAs(browser, "admin@example.com");
  await page.goto(`${base()}/requests/${requestId}`);
  const form = page.getByTestId("break-glass");
  await form.getByLabel(/Break-glass reason/).fill("production outage, INC-4242");
  await form.getByRole("button", { name: "Approve with break glass" }).click();
  const dialog = page.getByRole("dialog", { name: "Approve with break glass?" });
  await expect(dialog.getByTestId("break-glass-image")).toContainText(`${repo}@${digest}`);
  await expect(dialog).toContainText("stage build");
  await expect(dialog).toContainText("production outage, INC-4242");
  await dialog.getByRole("button", { name: "Cancel" }).click();
  await expect(dialog).toBeHidden();
  expect(await query(`SELECT id FROM approvals WHERE request_id = $1`, [requestId])).toEqual([]);
  expect((await (await request.get(`${base()}/api/v1/requests/${requestId}`, { headers: admin() })).json()).status).toBe("open");

  await form.getByRole("button", { name: "Approve with break glass" }).click();
  await dialog.getByRole("button", { name: "Sign as break-glass" }).click();
  await expect(page.getByTestId("review-outcome")).toContainText("Approved and signed");
  expect((await (await request.get(`${base()}/api/v1/requests/${requestId}`, { headers: admin() })).json()).status).toBe("signed");
  const [row] = await query<{ payload: Buffer }>(`SELECT payload FROM approvals WHERE request_id = $1`, [requestId]);
  expect(row!.payload.toString("utf8")).toContain("production outage, INC-4242");
});

test("deleting a trust identity and withdrawing evidence ask first; the trust preview lists what stops verifying", async ({ browser, request }) => {
  test.setTimeout(600_000);
  const { generateKeyPairSync } = await import("node:crypto");
  const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString();
  const add = await request.post(`${base()}/api/v1/trust`, {
    headers: admin(),
    data: { name: "confirm-del", kind: "key", role: "publisher", scope: ["e2e/**"], publicKeyPem: pem },
  });
  expect(add.status(), await add.text()).toBe(201);
  const preview = await (await request.get(`${base()}/api/v1/trust/confirm-del/preview`, { headers: admin() })).json();
  expect(preview).toMatchObject({ name: "confirm-del", role: "publisher", signatures: [], images: 0 });
  expect((await request.get(`${base()}/api/v1/trust/nope-missing/preview`, { headers: admin() })).status()).toBe(404);

  const page = await pageAs(browser, "admin@example.com");
  await page.goto(`${base()}/keys`);
  // Revoking asks first and says which signatures stop verifying; cancelling changes nothing.
  const trustNow = async () => (await (await request.get(`${base()}/api/v1/trust/confirm-del`, { headers: admin() })).json()) as { revokedAt: string | null };
  await page.getByTestId("revoke-trust-confirm-del").click();
  const revokeDialog = page.getByRole("dialog", { name: "Revoke trust identity confirm-del from now?" });
  await expect(revokeDialog).toContainText("no trusted time at all");
  await revokeDialog.getByRole("button", { name: "Cancel" }).click();
  await expect(revokeDialog).toBeHidden();
  expect((await trustNow()).revokedAt).toBeNull();
  await page.getByTestId("revoke-trust-confirm-del").click();
  await revokeDialog.getByRole("button", { name: "Revoke identity" }).click();
  await expect(revokeDialog).toBeHidden();
  await expect.poll(async () => (await trustNow()).revokedAt).not.toBeNull();
  await page.getByTestId("delete-trust-confirm-del").click();
  const dialog = page.getByRole("dialog", { name: "Delete trust identity confirm-del?" });
  await expect(dialog).toContainText("No verified signature rests on it today");
  await page.keyboard.press("Escape");
  expect((await request.get(`${base()}/api/v1/trust/confirm-del`, { headers: admin() })).status()).toBe(200);
  await page.getByTestId("delete-trust-confirm-del").click();
  await dialog.getByRole("button", { name: "Delete identity" }).click();
  await expect(dialog).toBeHidden();
  expect((await request.get(`${base()}/api/v1/trust/confirm-del`, { headers: admin() })).status()).toBe(404);

  // Evidence: uploaded from the page with progress, then withdrawn through the dialog with a reason.
  const img = await approvedImage(request, "e2e/confirm-evidence", "confirm-evidence");
  await page.goto(`${imageUrl(img.repo, img.digest)}&tab=sbom`);
  await page
    .getByLabel(/Upload evidence/)
    .setInputFiles({ name: "sbom.cdx.json", mimeType: "application/json", buffer: sbomWith("uploaded-from-the-page", "3.1.4") });
  await expect(page.getByTestId("evidence-upload-status")).toContainText("Stored: cyclonedx sbom, 1 components");
  const docs = await query<{ id: string; format: string; withdrawn_at: Date | null }>(
    `SELECT d.id, d.format, d.withdrawn_at FROM evidence_documents d JOIN images i ON i.id = d.image_id WHERE i.digest = $1 ORDER BY d.uploaded_at`,
    [img.digest],
  );
  expect(docs.map((d) => d.format)).toEqual(["trivy", "cyclonedx", "cyclonedx"]);
  await page.reload();
  // Newest first: the SBOM just uploaded from the page.
  await page.getByTestId("withdraw-evidence").first().click();
  const w = page.getByRole("dialog", { name: "Withdraw cyclonedx sbom?" });
  await expect(w.getByTestId("withdraw-affected")).toContainText("build");
  await w.getByLabel(/Reason/).fill("wrong image");
  await w.getByRole("button", { name: "Withdraw document" }).click();
  await expect(w).toBeHidden();
  const withdrawn = await query<{ withdraw_reason: string | null }>(
    `SELECT withdraw_reason FROM evidence_documents WHERE withdrawn_at IS NOT NULL AND image_id = (SELECT image_id FROM evidence_documents WHERE id = $1)`,
    [docs[0]!.id],
  );
  expect(withdrawn).toEqual([{ withdraw_reason: "wrong image" }]);
});
