import { expect, test } from "@playwright/test";
import { buildImage, pushImage } from "../scripts/lib/oci-build";
import { RegistryClient } from "../lib/oci/client";
import { base, bearer, query, signIn, trivyFor } from "./helpers";

test("an admin adds a registry, tests it, syncs with progress, and sees a moved tag flagged on an approved image", async ({ page, request }) => {
  const url = process.env.E2E_REGISTRY2_URL!;
  const client = new RegistryClient({ url });
  const a = buildImage({ architecture: "amd64", layers: [{ "version.txt": "a" }] });
  const b = buildImage({ architecture: "amd64", layers: [{ "version.txt": "b" }] });
  await pushImage(client, "app/moving", a, ["1.0"]);

  await signIn(page, "admin@example.com", "admin-demo-pass");
  await page.goto(`${base()}/registries`);
  await page.getByRole("button", { name: "Add registry" }).click();
  const form = page.getByTestId("registry-form");
  await form.locator('input[name="name"]').fill("second");
  await form.locator('input[name="url"]').fill(url);
  await form.getByRole("button", { name: "Add registry" }).click();

  const card = page.locator('[data-testid="registry-card"][data-name="second"]');
  await expect(card).toBeVisible();
  await card.getByRole("button", { name: "Test connection" }).click();
  await expect(card.getByTestId("test-result")).toHaveText(/Connection OK/);
  await card.getByRole("button", { name: "Sync now" }).click();
  await expect(card.getByTestId("sync-progress")).toHaveText(/Synced 1 \/ 1 repositories/);
  await expect(card.getByTestId("last-sync")).toContainText("succeeded");

  await page.goto(`${base()}/images?registry=second`);
  const rowA = page.locator('[data-testid="image-row"][data-repository="app/moving"]');
  await expect(rowA).toHaveCount(1);
  await rowA.getByTestId("digest-link").click();
  await expect(page.getByTestId("full-digest")).toHaveText(a.digest);
  // The promotion workflow: CI uploads a scan (test's gate judges findings), dev requests test, alice approves. CI's
  // token is not dev's (here the admin's): dev's own unsigned scan would not count for dev's request (four eyes on evidence).
  const dev = bearer("dev@example.com");
  const ci = bearer("admin@example.com");
  const configDigest = (await (await request.get(`${base()}/api/v1/images/app/moving@${a.digest}?registry=second`, { headers: dev })).json()).manifest.config
    .digest;
  expect(
    (
      await request.post(`${base()}/api/v1/images/app/moving@${a.digest}/evidence?registry=second`, {
        headers: { ...ci, "content-type": "application/json" },
        data: trivyFor("app/moving", a.digest, configDigest),
      })
    ).status(),
  ).toBe(201);
  const asked = await request.post(`${base()}/api/v1/requests`, {
    headers: dev,
    data: { registry: "second", repository: "app/moving", digest: a.digest, stage: "test", note: "before the move" },
  });
  expect(
    (
      await request.post(`${base()}/api/v1/requests/${(await asked.json()).id}/reviews`, {
        headers: bearer("alice@example.com"),
        data: { decision: "approve", comment: "approved before the tag moved" },
      })
    ).status(),
  ).toBe(201);

  // Someone pushes another image under the same tag.
  await pushImage(client, "app/moving", b, ["1.0"]);
  await page.goto(`${base()}/registries`);
  await card.getByRole("button", { name: "Sync now" }).click();
  await expect(card.getByTestId("sync-progress")).toContainText("1 tag moves");

  await page.goto(`${base()}/images?registry=second&repository=app%2Fmoving`);
  const rowB = page.locator(`[data-testid="image-row"][data-digest="${b.digest}"]`);
  await expect(rowB).toContainText("1.0");
  await expect(rowB.getByTestId("tag-warning")).toContainText("approved for test; approvals do not follow tags");
  await expect(rowB.getByTestId("stage-chain")).toContainText("test –");

  await page.goto(`${base()}/images/app/moving@${a.digest}?registry=second`);
  await expect(page.getByTestId("tag-moved-warning")).toContainText(`now points to ${b.digest.slice(0, 19)}`);
  await expect(page.getByTestId("tag-history")).toContainText("1.0");

  const events = await query<{ from_digest: string; to_digest: string }>(
    `SELECT from_digest, to_digest FROM tag_events e JOIN repositories r ON r.id = e.repository_id WHERE r.name = 'app/moving' AND e.tag = '1.0' ORDER BY seen_at`,
  );
  expect(events.map((e) => [e.from_digest, e.to_digest])).toEqual([
    [null, a.digest],
    [a.digest, b.digest],
  ]);
});
