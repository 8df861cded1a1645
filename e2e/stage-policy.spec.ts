import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { parse as parseYaml } from "yaml";
import { base, bearer, pageAs, query } from "./helpers";

test("GET /api/v1/stages/{name}/policies downloads the policy with the stage key, and bad input gets 422 / 409 with the reason", async ({ request }) => {
  const dev = bearer("dev@example.com");
  const [key] = await query<{ fingerprint: string }>(
    `SELECT k.fingerprint FROM signing_keys k JOIN stages s ON s.id = k.stage_id WHERE s.name = 'prod' AND k.retired_at IS NULL AND k.revoked_at IS NULL`,
  );
  const res = await request.get(`${base()}/api/v1/stages/prod/policies?format=kyverno&images=registry.example/apps/*&requireVerificationSummary=true`, {
    headers: dev,
  });
  expect(res.status()).toBe(200);
  expect(res.headers()["content-type"]).toMatch(/^application\/yaml/);
  expect(res.headers()["content-disposition"]).toBe('attachment; filename="imprimatur-stage-prod.kyverno.yaml"');
  const doc = parseYaml(await res.text()) as {
    kind: string;
    metadata: { annotations: Record<string, string> };
    spec: { matchImageReferences: { glob: string }[]; validations: { expression: string }[]; attestations: unknown[] };
  };
  expect(doc.kind).toBe("ImageValidatingPolicy");
  expect(doc.metadata.annotations["imprimatur.dev/keys"]).toContain(key!.fingerprint);
  // Every image is evaluated, and one outside the given patterns is refused by the first validation.
  expect(doc.spec.matchImageReferences).toEqual([{ glob: "*" }]);
  expect(doc.spec.validations[0]!.expression).toContain(`image.matches('^(?:registry[.]example/apps/.*)$')`);
  expect(doc.spec.attestations).toHaveLength(1);

  const unknown = await request.get(`${base()}/api/v1/stages/prod/policies?format=gatekeeper`, { headers: dev });
  expect(unknown.status()).toBe(422);
  expect((await unknown.json()).error).toMatchObject({
    code: "INVALID_INPUT",
    field: "format",
    message: expect.stringContaining("kyverno, kyverno-clusterpolicy, policy-controller, cosign"),
  });
  expect((await request.get(`${base()}/api/v1/stages/prod/policies`, { headers: dev })).status()).toBe(422);
  expect((await request.get(`${base()}/api/v1/stages/prod/policies?format=cosign&requireVerificationSummary=yes`, { headers: dev })).status()).toBe(422);
  expect((await request.get(`${base()}/api/v1/stages/prod/policies?format=cosign&images=${encodeURIComponent("a b")}`, { headers: dev })).status()).toBe(422);
  expect((await request.get(`${base()}/api/v1/stages/nope/policies?format=cosign`, { headers: dev })).status()).toBe(404);
  expect((await request.get(`${base()}/api/v1/stages/prod/policies?format=cosign`)).status()).toBe(401);

  // A stage whose only key is retired: 409 naming it, not a policy that admits nothing.
  const admin = bearer("admin@example.com");
  expect((await request.put(`${base()}/api/v1/stages/e2e-retired`, { headers: admin, data: { requiredApprovals: 1 } })).status()).toBeLessThan(300);
  await query(`UPDATE signing_keys SET retired_at = now(), not_after = now() WHERE stage_id = (SELECT id FROM stages WHERE name = 'e2e-retired')`);
  const retired = await request.get(`${base()}/api/v1/stages/e2e-retired/policies?format=kyverno&images=r.example/x:*`, { headers: dev });
  expect(retired.status()).toBe(409);
  expect((await retired.json()).error.message).toMatch(/no current signing key, only retired/);
});

test("the Stages page downloads a stage's policy in the chosen format, and shows a refusal as the server's sentence", async ({ browser }) => {
  const page = await pageAs(browser, "admin@example.com");
  await page.goto(`${base()}/stages`);
  const card = page.locator('[data-testid="stage-card"][data-name="prod"]');
  await card.getByText("Admission policy for clusters").click();
  await card.getByLabel("Format").selectOption("policy-controller");
  await card.getByLabel(/^Images/).fill("registry.example/apps/*");
  const [download] = await Promise.all([page.waitForEvent("download"), card.getByRole("button", { name: "Download policy" }).click()]);
  expect(download.suggestedFilename()).toBe("imprimatur-stage-prod.policy-controller.yaml");
  const text = readFileSync((await download.path())!, "utf8");
  expect(text).toContain("kind: ClusterImagePolicy");
  expect(text).toContain("-----BEGIN PUBLIC KEY-----");
  await expect(card.getByTestId("stage-policy-status")).toHaveText(/Downloaded imprimatur-stage-prod\.policy-controller\.yaml/);

  await card.getByLabel(/^Images/).fill("bad pattern");
  await card.getByRole("button", { name: "Download policy" }).click();
  await expect(card.getByTestId("stage-policy-status")).toHaveText(/Not generated: image pattern "bad pattern"/);
});
