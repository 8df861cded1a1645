import { expect, test } from "@playwright/test";
import { base, PUBLISHER_DIGEST, token } from "./helpers";

test("the API works with bearer tokens and answers bad input with a clear error", async ({ request }) => {
  const bob = token("bob@example.com");
  const auth = { Authorization: `Bearer ${bob}` };
  const list = await request.get(`${base()}/api/v1/images`, { headers: auth });
  expect(list.status()).toBe(200);
  expect((await list.json()).items.map((i: { repository: string }) => i.repository)).toContain("publisher/base");

  const one = await request.get(`${base()}/api/v1/images/publisher/base@${PUBLISHER_DIGEST}`, { headers: auth });
  expect(one.status()).toBe(200);
  const body = await one.json();
  expect(body.signatures[0].verdict).toBe("verified");
  expect(body.signatures[0].key.name).toBe("publisher");

  const keys = await request.get(`${base()}/api/v1/keys`, { headers: auth });
  expect((await keys.json()).keys.map((k: { stage: string }) => k.stage).sort()).toEqual(["build", "prod", "test"]);
  expect(JSON.stringify(await keys.json())).not.toMatch(/PRIVATE KEY/);

  const badJson = await request.post(`${base()}/api/v1/requests`, { headers: { ...auth, "content-type": "application/json" }, data: Buffer.from("{not json") });
  expect(badJson.status()).toBe(400);
  const missing = await request.post(`${base()}/api/v1/requests`, { headers: auth, data: { repository: "publisher/base", stage: "prod" } });
  expect(missing.status()).toBe(422);
  expect((await missing.json()).error.message).toMatch(/digest/);
  const unknownStage = await request.post(`${base()}/api/v1/requests`, {
    headers: auth,
    data: { repository: "publisher/base", digest: PUBLISHER_DIGEST, stage: "staging", note: "x" },
  });
  expect(unknownStage.status()).toBe(404);
  const unknownDigest = await request.post(`${base()}/api/v1/requests`, {
    headers: auth,
    data: { repository: "publisher/base", digest: `sha256:${"0".repeat(64)}`, stage: "prod", note: "x" },
  });
  expect(unknownDigest.status()).toBe(404);
  // No approval without a request: the old direct endpoint answers with the reason.
  // An unknown digest is named as unknown (404); a known one without an open request is refused with the reason (409).
  const unknown = await request.post(`${base()}/api/v1/approvals`, {
    headers: auth,
    data: { repository: "apps/payments-api", digest: `sha256:${"1".repeat(64)}`, stage: "build", comment: "x" },
  });
  expect(unknown.status()).toBe(404);
  const direct = await request.post(`${base()}/api/v1/approvals`, {
    headers: auth,
    data: { repository: "publisher/base", digest: PUBLISHER_DIGEST, stage: "build", comment: "x" },
  });
  expect(direct.status()).toBe(409);
  expect((await direct.json()).error.message).toMatch(/must request the promotion first/);

  // A developer requests, a security reviewer approves: both through the API.
  const dev = { Authorization: `Bearer ${token("dev@example.com")}` };
  const carol = { Authorization: `Bearer ${token("carol@example.com")}` };
  const payments = (await (await request.get(`${base()}/api/v1/images?repository=apps/payments-api`, { headers: auth })).json()).items[0];
  const asked = await request.post(`${base()}/api/v1/requests`, {
    headers: dev,
    data: { repository: "apps/payments-api", digest: payments.digest, stage: "build", note: "via API" },
  });
  expect(asked.status()).toBe(201);
  const { id } = await asked.json();
  const devReview = await request.post(`${base()}/api/v1/requests/${id}/reviews`, { headers: dev, data: { decision: "approve", comment: "mine" } });
  expect(devReview.status()).toBe(403);
  const rejectNoReason = await request.post(`${base()}/api/v1/requests/${id}/reviews`, { headers: carol, data: { decision: "reject" } });
  expect(rejectNoReason.status()).toBe(422);
  const approve = await request.post(`${base()}/api/v1/requests/${id}/reviews`, { headers: carol, data: { decision: "approve", comment: "via API" } });
  expect(approve.status()).toBe(201);
  const a = await approve.json();
  expect(a.status).toBe("signed");
  expect(a.request.signature.key.name).toBe("stage-build-key");
  const twice = await request.post(`${base()}/api/v1/requests/${id}/reviews`, { headers: carol, data: { decision: "approve", comment: "via API" } });
  expect(twice.status()).toBe(200);
  expect((await twice.json()).duplicate).toBe(true);

  // The ImageReview for that digest, exactly as Kubernetes defines request and response.
  const admin = { Authorization: `Bearer ${token("admin@example.com")}` };
  expect((await request.put(`${base()}/api/v1/admission/namespaces`, { headers: admin, data: { namespace: "ci", stage: "build" } })).status()).toBe(200);
  const host = new URL(process.env.E2E_REGISTRY_URL!).host;
  const reviewOf = (image: string) => ({
    apiVersion: "imagepolicy.k8s.io/v1alpha1",
    kind: "ImageReview",
    spec: { containers: [{ image }], annotations: { "mycluster.image-policy.k8s.io/ticket-1234": "break-glass" }, namespace: "ci" },
  });
  const allowed = await request.post(`${base()}/api/v1/imagereview`, { headers: admin, data: reviewOf(`${host}/apps/payments-api@${payments.digest}`) });
  expect(await allowed.json()).toEqual({
    apiVersion: "imagepolicy.k8s.io/v1alpha1",
    kind: "ImageReview",
    status: { allowed: true, auditAnnotations: { "imprimatur.dev/stage": "build" } },
  });
  const deniedReview = await request.post(`${base()}/api/v1/imagereview`, { headers: admin, data: reviewOf(`${host}/publisher/base@${PUBLISHER_DIGEST}`) });
  expect(await deniedReview.json()).toEqual({
    apiVersion: "imagepolicy.k8s.io/v1alpha1",
    kind: "ImageReview",
    status: { allowed: false, reason: `${host}/publisher/base@${PUBLISHER_DIGEST}: stage build has no approval for this digest` },
  });
  const tagReview = await request.post(`${base()}/api/v1/imagereview`, { headers: admin, data: reviewOf(`${host}/apps/payments-api:2.4.0`) });
  expect(await tagReview.json()).toEqual({
    apiVersion: "imagepolicy.k8s.io/v1alpha1",
    kind: "ImageReview",
    status: {
      allowed: false,
      reason: `${host}/apps/payments-api:2.4.0: ${host}/apps/payments-api:2.4.0 is referenced by tag 2.4.0; only digests are accepted (a tag can move after it is checked)`,
    },
  });

  const audit = await request.get(`${base()}/api/v1/audit`, { headers: auth });
  expect(audit.status()).toBe(403);
  const noToken = await request.get(`${base()}/api/v1/keys`, { headers: { Authorization: "Bearer imp_not-a-real-token" } });
  expect(noToken.status()).toBe(401);
});

test("pipelines ask /verify and the Kubernetes ImageReview webhook, with bearer tokens", async ({ request }) => {
  const auth = { Authorization: `Bearer ${token("admin@example.com")}` };
  const host = new URL(process.env.E2E_REGISTRY_URL!).host;
  const pub = `${host}/publisher/base@${PUBLISHER_DIGEST}`;
  const v = await request.get(`${base()}/api/v1/verify?image=${encodeURIComponent(pub)}&stage=prod`, { headers: auth });
  expect(v.status()).toBe(200);
  const body = await v.json();
  expect(body).toMatchObject({ allowed: false, digest: PUBLISHER_DIGEST });
  expect(body.reasons.join(" ")).toMatch(/stage prod has no approval/);
  expect(typeof body.asOf).toBe("string");
  expect((await request.get(`${base()}/api/v1/verify?stage=prod`, { headers: auth })).status()).toBe(422);

  const put = await request.put(`${base()}/api/v1/admission/namespaces`, { headers: auth, data: { namespace: "shop", stage: "test" } });
  expect(put.status()).toBe(200);
  const review = (image: string) => ({
    apiVersion: "imagepolicy.k8s.io/v1alpha1",
    kind: "ImageReview",
    spec: { containers: [{ image }], annotations: {}, namespace: "shop" },
  });
  // alice approved publisher/base for test in approve.spec (which may run later): judge by digest either way.
  const r = await request.post(`${base()}/api/v1/imagereview`, { headers: auth, data: review(`${host}/publisher/base:1.0`) });
  expect(r.status()).toBe(200);
  const denied = await r.json();
  expect(denied.apiVersion).toBe("imagepolicy.k8s.io/v1alpha1");
  expect(denied.kind).toBe("ImageReview");
  expect(denied.status.allowed).toBe(false);
  expect(denied.status.reason).toMatch(/only digests are accepted/);
  const bad = await request.post(`${base()}/api/v1/imagereview`, { headers: auth, data: { apiVersion: "v1", kind: "Pod" } });
  expect(bad.status()).toBe(422);
  expect((await request.post(`${base()}/api/v1/imagereview`, { data: review(pub) })).status()).toBe(401);
});
