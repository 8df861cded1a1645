import { expect, test, type Locator } from "@playwright/test";
import { base, bearer, pageAs, PUBLISHER_DIGEST, query, syncNow } from "./helpers";

const CHECK_NAMES = [
  "payload matches its layer digest",
  "names this digest",
  "signature is valid",
  "certificate chain is valid at the trusted time",
  "identity is trusted for this repository and role",
  "has not expired",
  "has not been revoked",
];

/** Every check of the shared pipeline is listed, in order (a format may add its own in between, e.g. "payload type"). */
async function expectPipeline(checks: Locator) {
  await expect(checks.first()).toBeVisible();
  const names = (await checks.allTextContents()).map((t) => CHECK_NAMES.find((n) => t.includes(n))).filter(Boolean);
  expect(names).toEqual(CHECK_NAMES);
}

test("the publisher-signed demo image shows publisher ✓ with each check, and a stage ✓ after an approval", async ({ browser, request }) => {
  // An image of our own built on the publisher's base (OCI base annotations), so the approval touches no other spec's image.
  const { buildImage, layoutLayers, pushImage } = await import("../scripts/lib/oci-build");
  const { RegistryClient } = await import("../lib/oci/client");
  const client = new RegistryClient({ url: process.env.E2E_REGISTRY_URL! });
  const child = buildImage({
    architecture: "amd64",
    // Really built on it: the base-image gate proves the claim by the layers.
    base: layoutLayers("scripts/fixtures/upstream-cosign/oci-layout", PUBLISHER_DIGEST),
    layers: [{ "srv/chain.txt": `chain ${Date.now()}\n` }],
    annotations: {
      "org.opencontainers.image.base.name": `${new URL(process.env.E2E_REGISTRY_URL!).host}/publisher/base:1.0`,
      "org.opencontainers.image.base.digest": PUBLISHER_DIGEST,
    },
  });
  await pushImage(client, "e2e/chain-app", child, ["1.0"]);
  await syncNow(request);

  const page = await pageAs(browser, "alice@example.com");
  await page.goto(`${base()}/images?repository=publisher/base`);
  const pubRow = page.locator('[data-testid="image-row"][data-repository="publisher/base"]');
  await expect(pubRow.getByTestId("stage-chain")).toContainText("publisher ✓");

  // The publisher's own signature, with every check of the pipeline listed in order.
  await page.goto(`${base()}/images/publisher/base@${PUBLISHER_DIGEST}`);
  const pub = page.locator('[data-testid="signature-chain"] [data-testid="signature"][data-role="publisher"]');
  await expect(pub).toHaveAttribute("data-verdict", "verified");
  await expect(pub.getByTestId("signature-detail")).toContainText('trusted key "publisher"');
  await expectPipeline(pub.getByTestId("signature-check"));
  await expect(pub.locator('[data-testid="signature-check"][data-passed="false"]')).toHaveCount(0);
  await expect(pub.getByTestId("signature-time")).toContainText("claimed");

  // The child links to its base and shows the base's verified publisher signature.
  await page.goto(`${base()}/images/e2e/chain-app@${child.digest}`);
  const baseBox = page.getByTestId("base-image");
  await expect(baseBox).toContainText("publisher/base");
  await expect(baseBox.locator('[data-testid="signature"][data-role="publisher"]')).toHaveAttribute("data-verdict", "verified");
  await expect(baseBox.getByTestId("base-not-proven")).toHaveCount(0);

  // A developer requests build, a security reviewer approves (through the API), and the stage signature joins the chain.
  const asked = await request.post(`${base()}/api/v1/requests`, {
    headers: bearer("dev@example.com"),
    data: { repository: "e2e/chain-app", digest: child.digest, stage: "build", note: "chain e2e" },
  });
  expect(asked.status()).toBe(201);
  const { id } = await asked.json();
  const approved = await request.post(`${base()}/api/v1/requests/${id}/reviews`, {
    headers: bearer("carol@example.com"),
    data: { decision: "approve", comment: "chain e2e" },
  });
  expect(approved.ok()).toBe(true);

  await page.reload();
  const stage = page.locator('[data-testid="signature-chain"] [data-testid="signature"][data-role="stage"]');
  await expect(stage).toHaveAttribute("data-verdict", "verified");
  await expect(stage.getByTestId("signature-role")).toHaveText("stage build");
  await expectPipeline(stage.getByTestId("signature-check"));
  await expect(stage.locator('[data-testid="signature-check"][data-passed="false"]')).toHaveCount(0);
  // Imprimatur's own record of the approval vouches for the time.
  await expect(stage.getByTestId("signature-time")).toContainText("trusted");

  await page.goto(`${base()}/images?repository=e2e/chain-app`);
  const row = page.locator('[data-testid="image-row"][data-repository="e2e/chain-app"]');
  await expect(row.getByTestId("stage-chain")).toHaveText("publisher ✓ · build ✓ · test – · prod –");

  // What the page showed is what Postgres holds.
  const rows = await query<{ verdict: string; role: string; checks: { passed: boolean | null }[] }>(
    `SELECT s.verdict, s.role, s.checks FROM signatures s JOIN images i ON i.id = s.image_id WHERE i.digest = $1`,
    [child.digest],
  );
  expect(rows).toEqual([expect.objectContaining({ verdict: "verified", role: "stage" })]);
  expect(rows[0]!.checks.some((c) => c.passed === false)).toBe(false);
});
