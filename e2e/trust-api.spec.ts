import { expect, test } from "@playwright/test";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { base, token } from "./helpers";

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
