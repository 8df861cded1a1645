// Shared by the standing security suite (lib/server/security/*.int.test.ts): the fixture every route is called
// against, and EXPECTED, the status each caller must get from each (method, route). A route file that exports a
// method without an entry here fails route-matrix.int.test.ts.
import { generateKeyPairSync } from "node:crypto";
import { buildImage, pushImage } from "../lib/oci-build";
import { seedStages, seedUsers } from "../seed";
import { userActor } from "./promote";
import { RegistryClient } from "../../lib/oci/client";
import type { Digest } from "../../lib/oci/digest";
import { ROLES, type Actor, type Role } from "../../lib/server/actor";
import { upsertGroup } from "../../lib/server/groups/upsert-group";
import { syncRegistry } from "../../lib/server/images/sync-registry";
import { requestPromotion } from "../../lib/server/promotions/request-promotion";
import { createRegistry } from "../../lib/server/registries/create-registry";
import { rotateWebhookToken } from "../../lib/server/registries/rotate-webhook-token";
import { upsertStage } from "../../lib/server/stages/upsert-stage";
import { createToken } from "../../lib/server/tokens/create-token";
import { revokeToken } from "../../lib/server/tokens/revoke-token";
import { createTrustIdentity } from "../../lib/server/trust/create-trust-identity";
import { grantWaiver } from "../../lib/server/waivers/grant-waiver";
import { createWebhook } from "../../lib/server/webhooks/create-webhook";

export type Who = "anonymous" | "garbage token" | "revoked token" | Role;
/** Refused callers first, then the roles, so that a role's successful write cannot hide a later refusal's write. */
export const CALLERS: readonly Who[] = ["anonymous", "garbage token", "revoked token", "manager", "developer", "reviewer", "admin"];
const EMAIL: Record<Role, string> = { admin: "admin@example.com", reviewer: "alice@example.com", developer: "dev@example.com", manager: "manager@example.com" };

export interface F {
  repo: string;
  digest: Digest;
  requestRepo: string;
  requestDigest: Digest;
  approvalRepo: string;
  approvalDigest: Digest;
  reviewRequestId: string;
  withdrawRequestId: string;
  waiverId: string;
  syncRunId: string;
  registryUrl: string;
  publicKeyPem: (n: number) => string;
  /** The default registry's webhook token, for the notifications route. */
  webhookToken: string;
  tokens: Record<Who, string | undefined>;
}

export interface Expectation {
  params?: (f: F) => Record<string, string | string[]>;
  query?: (f: F) => string;
  body?: (f: F, who: Who) => unknown;
  headers?: Record<string, string>;
  /** Status per caller; anonymous, garbage and revoked tokens default to 401. */
  status: Partial<Record<Who, number>> & { roles?: number };
  /** Why a role-allowed caller gets something other than 2xx here. */
  note?: string;
}

const all = (n: number): Expectation["status"] => ({ roles: n });
const only = (allowed: Partial<Record<Role, number>>, denied = 403): Expectation["status"] => ({ roles: denied, ...allowed });
const imageRef = (f: F) => ({ ref: [...f.repo.split("/").slice(0, -1), `${f.repo.split("/").at(-1)}@${f.digest}`] });

/** One entry per exported (method, route). Adding a route means adding its line here, with the statuses it must give. */
export const EXPECTED: Record<string, Expectation> = {
  "GET /api/auth/[...nextauth]": {
    params: () => ({ nextauth: ["session"] }),
    status: { anonymous: 200, "garbage token": 200, "revoked token": 200, roles: 200 },
    note: "public: the session endpoint answers {} without a session cookie",
  },
  "POST /api/auth/[...nextauth]": {
    params: () => ({ nextauth: ["signout"] }),
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: () => "callbackUrl=%2F",
    status: { anonymous: 302, "garbage token": 302, "revoked token": 302, roles: 302 },
    note: "public: without next-auth's CSRF token, sign-out only redirects to the confirmation page",
  },
  "POST /api/v1/account/password": {
    body: () => ({ currentPassword: "not-the-password", newPassword: "matrix-new-password" }),
    status: all(403),
    note: "one's own password is changed from a signed-in session, never with an API token",
  },
  "GET /api/v1/admission/namespaces": { status: all(200) },
  "PUT /api/v1/admission/namespaces": { body: () => ({ namespace: "matrix-ns", stage: "prod" }), status: only({ admin: 200 }) },
  "POST /api/v1/approvals": {
    body: (f) => ({ registry: "default", repository: f.approvalRepo, digest: f.approvalDigest, stage: "prod", comment: "matrix approval" }),
    status: only({ reviewer: 201, admin: 403 }),
    note: "admin is not in the stage's reviewer group",
  },
  "GET /api/v1/audit": { status: only({ admin: 200, manager: 200 }) },
  "GET /api/v1/groups": { status: all(200) },
  "PUT /api/v1/groups": { body: () => ({ name: "matrix-group", members: ["dev@example.com"] }), status: only({ admin: 200 }) },
  "POST /api/v1/imagereview": {
    body: (f) => ({
      apiVersion: "imagepolicy.k8s.io/v1alpha1",
      kind: "ImageReview",
      spec: { containers: [{ image: `${new URL(f.registryUrl).host}/${f.repo}@${f.digest}` }], namespace: "default" },
    }),
    status: all(200),
  },
  "GET /api/v1/images/[...ref]": { params: imageRef, query: () => "registry=default", status: all(200) },
  "POST /api/v1/images/[...ref]": {
    params: (f) => ({ ref: [...imageRef(f).ref, "evidence"] }),
    query: () => "registry=default",
    body: (_f, who) => ({
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      version: 1,
      metadata: { component: { type: "container", name: `matrix ${who}` } },
      components: [{ type: "library", name: "musl", version: "1.2.4", purl: "pkg:apk/alpine/musl@1.2.4" }],
    }),
    status: only({ admin: 201, developer: 201, reviewer: 201 }),
  },
  "GET /api/v1/images": { status: all(200) },
  "GET /api/v1/keys/[name]": { params: () => ({ name: "stage-prod-key" }), status: all(200) },
  "GET /api/v1/keys": { status: all(200) },
  "POST /api/v1/keys/stages/[stage]/import": {
    params: () => ({ stage: "build" }),
    body: () => ({ pem: "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n", password: "x" }),
    status: only({ admin: 422 }),
    note: "admin gets past authorization to the key check (a real key import is covered in keys.int.test.ts)",
  },
  "POST /api/v1/keys/stages/[stage]/rotate": { params: () => ({ stage: "build" }), body: () => ({}), status: only({ admin: 201 }) },
  "GET /api/v1/keys/stages/[stage]": { params: () => ({ stage: "prod" }), status: all(200) },
  "GET /api/v1/keys/stages/[stage]/preview": { params: () => ({ stage: "prod" }), status: only({ admin: 200 }) },
  "GET /api/v1/my-images": { status: all(200) },
  "POST /api/v1/registries/[name]/confirm-realm": {
    params: () => ({ name: "matrix" }),
    status: only({ admin: 409 }),
    note: "the registry has no token realm to confirm",
  },
  "POST /api/v1/registries/[name]/notifications": {
    params: () => ({ name: "default" }),
    body: () => ({ events: [] }),
    status: all(401),
    note: "authenticated by the registry's webhook token only; user tokens are not webhook tokens",
  },
  "GET /api/v1/registries/[name]": { params: () => ({ name: "default" }), status: all(200) },
  "PATCH /api/v1/registries/[name]": { params: () => ({ name: "matrix" }), body: () => ({ syncIntervalMinutes: 30 }), status: only({ admin: 200 }) },
  "DELETE /api/v1/registries/[name]": { params: () => ({ name: "matrix-del" }), status: only({ admin: 200 }) },
  "POST /api/v1/registries/[name]/sync": {
    params: () => ({ name: "default" }),
    status: { ...all(202), manager: 403 },
    note: "any signed-in user may ask for a sync (a queued job, coalesced with a running one); a manager's token has no request scope",
  },
  "POST /api/v1/registries/[name]/test": { params: () => ({ name: "matrix" }), status: only({ admin: 200 }) },
  "POST /api/v1/registries/[name]/webhook-token": { params: () => ({ name: "matrix" }), status: only({ admin: 201 }) },
  "GET /api/v1/registries": { status: all(200) },
  "POST /api/v1/registries": { body: (f) => ({ name: "matrix-new", url: f.registryUrl }), status: only({ admin: 201 }) },
  "POST /api/v1/requests/[id]/reviews": {
    params: (f) => ({ id: f.reviewRequestId }),
    body: () => ({ decision: "approve", comment: "matrix review" }),
    status: only({ reviewer: 201, admin: 403 }),
    note: "admin is not in the stage's reviewer group",
  },
  "GET /api/v1/requests/[id]": { params: (f) => ({ id: f.reviewRequestId }), status: all(200) },
  "POST /api/v1/requests/[id]/withdraw": {
    params: (f) => ({ id: f.withdrawRequestId }),
    body: () => ({ reason: "matrix withdraw" }),
    status: only({ developer: 200, reviewer: 403, admin: 409 }),
    note: "only the requester (or an admin) may withdraw; once withdrawn the request is no longer open",
  },
  "GET /api/v1/requests": { status: all(200) },
  "POST /api/v1/requests": {
    body: (f) => ({ registry: "default", repository: f.requestRepo, digest: f.requestDigest, stage: "prod", note: "matrix request" }),
    status: only({ developer: 201, reviewer: 200, admin: 200 }),
    note: "the second and third ask get the open request back",
  },
  "GET /api/v1/search/packages": { query: () => "q=musl", status: all(200) },
  "GET /api/v1/stages/[name]": { params: () => ({ name: "prod" }), status: all(200) },
  "PUT /api/v1/stages/[name]": { params: () => ({ name: "matrix-stage" }), body: () => ({ requiredApprovals: 1 }), status: only({ admin: 200 }) },
  "GET /api/v1/stages": { status: all(200) },
  "GET /api/v1/sync-runs/[id]": { params: (f) => ({ id: f.syncRunId }), status: all(200) },
  "POST /api/v1/sync": { body: () => ({ registry: "default" }), status: { ...all(202), manager: 403 }, note: "as above" },
  "GET /api/v1/trust/[name]": { params: () => ({ name: "matrix-key" }), status: all(200) },
  "GET /api/v1/trust/[name]/preview": { params: () => ({ name: "matrix-key" }), status: only({ admin: 200 }) },
  "PATCH /api/v1/trust/[name]": { params: () => ({ name: "matrix-key" }), body: () => ({ scope: ["matrix/**"] }), status: only({ admin: 200 }) },
  "DELETE /api/v1/trust/[name]": { params: () => ({ name: "matrix-del" }), status: only({ admin: 200 }) },
  "GET /api/v1/trust": { status: all(200) },
  "POST /api/v1/trust": {
    body: (f) => ({ name: "matrix-new", kind: "key", role: "publisher", scope: ["matrix/**"], publicKeyPem: f.publicKeyPem(3) }),
    status: only({ admin: 201 }),
  },
  "GET /api/v1/verify": { query: (f) => `image=${encodeURIComponent(`${new URL(f.registryUrl).host}/${f.repo}@${f.digest}`)}&stage=prod`, status: all(200) },
  "DELETE /api/v1/waivers/[id]": {
    params: (f) => ({ id: f.waiverId }),
    body: () => ({ reason: "matrix revoke" }),
    status: only({ reviewer: 200, admin: 200 }),
    note: "the granter revokes; revoking a revoked waiver again answers 200 and changes nothing",
  },
  "GET /api/v1/waivers": { status: all(200) },
  "POST /api/v1/waivers": {
    body: (f) => ({
      stage: "prod",
      gate: "findings",
      registry: "default",
      repository: f.repo,
      digest: f.digest,
      reason: "matrix waiver",
      expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
    }),
    status: only({ reviewer: 201, admin: 403 }),
    note: "only members of the stage's waiver group may waive",
  },
  "GET /api/healthz": {
    status: { anonymous: 200, "garbage token": 200, "revoked token": 200, roles: 200 },
    note: "public liveness probe: no data, no session",
  },
  "GET /api/v1/openapi.json": {
    status: { anonymous: 200, "garbage token": 200, "revoked token": 200, roles: 200 },
    note: "public: the OpenAPI document describes the API, it holds no data",
  },
  "GET /api/v1/advisories": { status: all(200) },
  "POST /api/v1/advisories": {
    body: () => ({
      id: "MATRIX-2026-0001",
      modified: "2026-12-01T00:00:00Z",
      affected: [{ package: { ecosystem: "npm", name: "matrix-nothing" }, ranges: [{ type: "SEMVER", events: [{ introduced: "0" }, { fixed: "1.0.0" }] }] }],
    }),
    status: only({ admin: 201, reviewer: 201 }),
  },
  "POST /api/v1/approvals/[id]/revoke": {
    params: () => ({ id: "00000000-0000-4000-8000-000000000000" }),
    body: () => ({ reason: "matrix revocation" }),
    status: only({ admin: 404, reviewer: 404 }),
  },
  "GET /api/v1/audit/export": { query: () => "format=ndjson&from=2026-01-01", status: only({ admin: 200, manager: 200 }) },
  "GET /api/v1/audit/verify": { status: only({ admin: 200, manager: 200 }) },
  "GET /api/v1/reports/[name]": {
    params: () => ({ name: "approvals" }),
    query: () => "format=csv&from=2026-01-01&to=2026-01-31",
    status: only({ admin: 200, manager: 200 }),
  },
  "GET /api/v1/evidence-uploaders": { status: all(200) },
  "PUT /api/v1/evidence-uploaders": { body: () => ({ rules: [] }), status: only({ admin: 200 }) },
  "POST /api/v1/evidence/[id]/withdraw": {
    params: () => ({ id: "00000000-0000-4000-8000-000000000000" }),
    body: () => ({ reason: "matrix withdrawal" }),
    status: only({ admin: 404 }),
  },
  "POST /api/v1/keys/stages/[stage]/revoke": {
    params: () => ({ stage: "build" }),
    body: () => ({ effectiveAt: new Date(Date.now() - 86_400_000).toISOString(), reason: "matrix dry run", dryRun: true }),
    status: only({ admin: 200 }),
  },
  "GET /api/v1/revocations/[id]": { params: () => ({ id: "00000000-0000-4000-8000-000000000000" }), status: all(404) },
  "POST /api/v1/revocations": {
    body: () => ({ query: "musl", stages: ["prod"], reason: "matrix dry run", dryRun: true }),
    status: only({ admin: 200, reviewer: 200 }),
  },
  "POST /api/v1/revocations/[id]/confirm": { params: () => ({ id: "00000000-0000-4000-8000-000000000000" }), status: only({ admin: 404, reviewer: 404 }) },
  "GET /api/v1/stages/[name]/policies": { params: () => ({ name: "prod" }), query: () => "format=cosign", status: all(200) },
  "GET /api/v1/tokens": { status: all(200) },
  "POST /api/v1/tokens": {
    body: () => ({ name: "matrix-made", scopes: ["read"] }),
    status: only({ admin: 201 }),
    note: "a token mints tokens only with the admin scope (sessions may make their own)",
  },
  "DELETE /api/v1/tokens/[id]": { params: () => ({ id: "00000000-0000-4000-8000-000000000000" }), status: only({ admin: 404 }), note: "as above" },
  "GET /api/v1/users": { status: only({ admin: 200 }) },
  "PATCH /api/v1/users/[email]": { params: () => ({ email: "carol@example.com" }), body: () => ({ role: "reviewer" }), status: only({ admin: 200 }) },
  "DELETE /api/v1/webhooks/[name]": { params: () => ({ name: "matrix-hook" }), status: only({ admin: 200 }) },
  "GET /api/v1/webhooks": { status: only({ admin: 200 }) },
  "POST /api/v1/webhooks": { body: () => ({ name: "matrix-new", url: "http://127.0.0.1:9/hook" }), status: only({ admin: 201 }) },
};

const system: Actor = { kind: "system", label: "test" };

/** Users, stages, groups, images, requests, a waiver, registries, trust identities, a webhook and one token per caller. */
export async function seedSecurityFixture(): Promise<F> {
  const tokens = {} as Record<Who, string | undefined>;
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const push = async (repo: string, seed: string) => {
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${seed} ${Date.now()}` }] });
    await pushImage(client, repo, img, ["v1"]);
    return img.digest;
  };
  const digest = await push("matrix/app", "a");
  const requestDigest = await push("matrix/req", "b");
  const approvalDigest = await push("matrix/appr", "c");
  const withdrawDigest = await push("matrix/wd", "d");
  const run = await syncRegistry({ actor: system, registry: "default" });
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  for (const stage of ["test", "prod"])
    await upsertStage({ actor: system, name: stage, settings: { requiredApprovals: 2, reviewerGroups: ["security"], waiverGroup: "security", gates: {} } });
  const dev = await userActor("dev@example.com");
  const reviewReq = await requestPromotion({ actor: dev, registry: "default", repository: "matrix/app", digest, stage: "test", note: "matrix" });
  await requestPromotion({ actor: dev, registry: "default", repository: "matrix/appr", digest: approvalDigest, stage: "prod", note: "matrix" });
  const withdrawReq = await requestPromotion({
    actor: dev,
    registry: "default",
    repository: "matrix/wd",
    digest: withdrawDigest,
    stage: "prod",
    note: "matrix",
  });
  const waiver = await grantWaiver({
    actor: await userActor("alice@example.com"),
    stage: "prod",
    gate: "findings",
    vulnIds: [],
    repository: "matrix/app",
    digest,
    reason: "matrix setup",
    expiresAt: new Date(Date.now() + 86_400_000),
  });
  const registryUrl = process.env.REGISTRY_URL!;
  await createRegistry({ actor: system, input: { name: "matrix", url: registryUrl } });
  await createRegistry({ actor: system, input: { name: "matrix-del", url: registryUrl } });
  const keys = [0, 1, 2, 3].map(() => generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey.export({ type: "spki", format: "pem" }).toString());
  await createTrustIdentity({ actor: system, input: { name: "matrix-key", kind: "key", role: "publisher", scope: ["matrix/**"], publicKeyPem: keys[0] } });
  await createTrustIdentity({ actor: system, input: { name: "matrix-del", kind: "key", role: "publisher", scope: ["matrix/**"], publicKeyPem: keys[1] } });
  await createWebhook({ actor: system, name: "matrix-hook", url: "http://127.0.0.1:9/hook", events: [] });
  const admin = await userActor("admin@example.com");
  // Made by the operator (system): an admin cannot make another user's review or admin tokens (four eyes).
  for (const r of ROLES) tokens[r] = (await createToken({ actor: system, email: EMAIL[r], name: "matrix" })).token;
  const revoked = await createToken({ actor: admin, email: "admin@example.com", name: "revoked" });
  await revokeToken({ actor: admin, idOrPrefix: revoked.id });
  tokens["revoked token"] = revoked.token;
  tokens["garbage token"] = "imp_" + "x".repeat(40);
  return {
    repo: "matrix/app",
    digest,
    requestRepo: "matrix/req",
    requestDigest,
    approvalRepo: "matrix/appr",
    approvalDigest,
    reviewRequestId: reviewReq.id,
    withdrawRequestId: withdrawReq.id,
    waiverId: waiver.id,
    syncRunId: run.syncRunId,
    registryUrl,
    publicKeyPem: (n) => keys[n]!,
    webhookToken: (await rotateWebhookToken({ actor: system, name: "default" })).token,
    tokens,
  };
}
