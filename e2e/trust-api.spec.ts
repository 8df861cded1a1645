import { expect, test } from "@playwright/test";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { base, pageAs, query, token } from "./helpers";

const pub = (type: "rsa" | "ec", opts: { modulusLength?: number; namedCurve?: string }) =>
  (type === "rsa"
    ? generateKeyPairSync("rsa", { modulusLength: opts.modulusLength ?? 2048 })
    : generateKeyPairSync("ec", { namedCurve: opts.namedCurve ?? "P-256" })
  ).publicKey
    .export({ type: "spki", format: "pem" })
    .toString();

test("trust identities through the API: bad keys and roots get a 4xx with the reason, good ones are stored", async ({ request }) => {
  const admin = { Authorization: `Bearer ${token("admin@example.com")}` };
  const alice = { Authorization: `Bearer ${token("alice@example.com")}` };
  const post = (headers: Record<string, string>, data: object) => request.post(`${base()}/api/v1/trust`, { headers, data });

  const malformed = await post(admin, {
    name: "bad-pem",
    kind: "key",
    role: "publisher",
    publicKeyPem: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----",
  });
  expect(malformed.status()).toBe(422);
  const rsa1024 = await post(admin, { name: "weak-rsa", kind: "key", role: "publisher", publicKeyPem: pub("rsa", { modulusLength: 1024 }) });
  expect(rsa1024.status()).toBe(422);
  expect((await rsa1024.json()).error.message).toMatch(/1024/);
  const k1 = await post(admin, { name: "secp256k1", kind: "key", role: "publisher", publicKeyPem: pub("ec", { namedCurve: "secp256k1" }) });
  expect(k1.status()).toBe(422);
  expect((await post(alice, { name: "by-reviewer", kind: "key", role: "publisher", publicKeyPem: pub("ec", { namedCurve: "P-384" }) })).status()).toBe(403);
  const badRoot = await post(admin, {
    name: "bad-root",
    kind: "sigstore",
    role: "team",
    trustedRoot: { mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1", tlogs: "x" },
  });
  expect(badRoot.status()).toBe(422);

  const good = await post(admin, {
    name: "vendor-p384",
    kind: "key",
    role: "publisher",
    scope: ["vendor/**"],
    publicKeyPem: pub("ec", { namedCurve: "P-384" }),
  });
  expect(good.status()).toBe(201);
  const sigstore = await post(admin, {
    name: "sigstore-public-good",
    kind: "sigstore",
    role: "team",
    scope: ["apps/**"],
    trustedRoot: readFileSync("lib/signing/testdata/sigstore-public-good-trusted-root.json", "utf8"),
    san: "https://github.com/acme/*",
    oidcIssuer: "https://token.actions.githubusercontent.com",
  });
  expect(sigstore.status()).toBe(201);
  const list = await (await request.get(`${base()}/api/v1/trust`, { headers: alice })).json();
  expect(list.identities.map((i: { name: string }) => i.name)).toEqual(expect.arrayContaining(["publisher", "vendor-p384", "sigstore-public-good"]));
  // Nothing of the refused ones was stored.
  expect(list.identities.map((i: { name: string }) => i.name)).not.toContain("weak-rsa");
});

test("builder identities name the builder ids they vouch for: refused without, added from the form, ** warned about, narrowed in place", async ({
  browser,
  request,
}) => {
  const admin = { Authorization: `Bearer ${token("admin@example.com")}` };
  const none = await request.post(`${base()}/api/v1/trust`, {
    headers: admin,
    data: { name: "e2e-builder-none", kind: "key", role: "builder", scope: ["e2e/**"], publicKeyPem: pub("ec", {}) },
  });
  expect(none.status()).toBe(422);
  expect((await none.json()).error.message).toContain("builderIds");

  const page = await pageAs(browser, "admin@example.com");
  await page.goto(`${base()}/keys`);
  const form = page.getByRole("form", { name: "Add trust identity" });
  await form.getByLabel("Name").fill("e2e-builder-ui");
  await form.getByLabel("Role").selectOption("builder");
  await form.getByLabel(/Scope/).fill("e2e/**");
  await form.getByLabel(/Builder ids it may vouch for/).fill("**");
  await expect(form.getByTestId("any-builder-form-warning")).toBeVisible();
  await form.getByLabel("Public key (PEM)").fill(pub("ec", {}));
  await form.getByRole("button", { name: "Add identity" }).click();
  const card = page.locator('[data-testid="trust-identity"][data-name="e2e-builder-ui"]');
  await expect(card.getByTestId("any-builder-warning")).toBeVisible();

  // Narrowed from the card: the warning goes, the row and the audit trail say the new list.
  await card.getByTestId("edit-builder-ids-e2e-builder-ui").click();
  await card
    .getByRole("form", { name: "Builder ids of e2e-builder-ui" })
    .getByLabel(/Builder ids/)
    .fill("https://ci.team.example/*");
  await card.getByRole("button", { name: "Save builder ids" }).click();
  await expect(card.getByTestId("builder-ids")).toContainText("https://ci.team.example/*");
  await expect(card.getByTestId("any-builder-warning")).toHaveCount(0);
  const [row] = await query<{ builder_ids: string[] }>(`SELECT builder_ids FROM trust_identities WHERE name = $1`, ["e2e-builder-ui"]);
  expect(row!.builder_ids).toEqual(["https://ci.team.example/*"]);
  const audits = await query<{ action: string; detail: { builderIds?: string[]; changes?: { builderIds?: string[] } } }>(
    `SELECT action, detail FROM audit_events WHERE target = $1 ORDER BY seq`,
    ["e2e-builder-ui"],
  );
  expect(audits.map((a) => [a.action, a.detail.builderIds ?? a.detail.changes?.builderIds])).toEqual([
    ["trust.add", ["**"]],
    ["trust.update", ["https://ci.team.example/*"]],
  ]);
});

test("stage keys through the API: export cosign.pub and the history, import an encrypted cosign key, rotate", async ({ request }) => {
  const admin = { Authorization: `Bearer ${token("admin@example.com")}` };
  const dev = { Authorization: `Bearer ${token("dev@example.com")}` };
  const stage = await request.put(`${base()}/api/v1/stages/e2e-keys`, { headers: admin, data: { requiredApprovals: 1 } });
  expect(stage.status()).toBe(200);
  const first = (await stage.json()).key;

  const pem = await request.get(`${base()}/api/v1/keys/${first.name}`, { headers: dev });
  expect(pem.status()).toBe(200);
  expect(await pem.text()).toMatch(/^-----BEGIN PUBLIC KEY-----/);

  const key = readFileSync("scripts/fixtures/upstream-cosign/publisher.key", "utf8");
  const wrong = await request.post(`${base()}/api/v1/keys/stages/e2e-keys/import`, { headers: admin, data: { pem: key, password: "not-it" } });
  expect(wrong.status()).toBe(422);
  expect((await wrong.json()).error.message).toMatch(/wrong password/);
  expect((await request.post(`${base()}/api/v1/keys/stages/e2e-keys/import`, { headers: dev, data: { pem: key, password: "publisher-demo" } })).status()).toBe(
    403,
  );
  const imported = await request.post(`${base()}/api/v1/keys/stages/e2e-keys/import`, {
    headers: admin,
    data: { pem: key, password: "publisher-demo", name: "e2e-imported" },
  });
  expect(imported.status()).toBe(201);
  expect((await imported.json()).key.publicKeyPem.trim()).toBe(readFileSync("scripts/fixtures/upstream-cosign/publisher.pub", "utf8").trim());

  const rotated = await request.post(`${base()}/api/v1/keys/stages/e2e-keys/rotate`, { headers: admin, data: { name: "e2e-rotated" } });
  expect(rotated.status()).toBe(201);
  expect((await rotated.json()).retired).toContain("e2e-imported");

  const history = await request.get(`${base()}/api/v1/keys/stages/e2e-keys?format=pem`, { headers: dev });
  expect(history.status()).toBe(200);
  expect(((await history.text()).match(/BEGIN PUBLIC KEY/g) ?? []).length).toBe(3);
});
