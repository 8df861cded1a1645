import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage, pushOciLayout } from "../../../scripts/lib/oci-build";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { FIXTURE, seedStages, seedUsers } from "../../../scripts/seed";
import { addTrustedKey } from "../keys/add-trusted-key";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { listReferrers } from "../../oci/referrers";
import { cosignTag } from "../../oci/reference";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { completePendingSignatures } from "../approvals/complete-pending-signatures";
import { verifyAuditChain } from "../audit/verify-audit-chain";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { getImage } from "../images/get-image";
import { syncRegistry } from "../images/sync-registry";
import { upsertStage } from "../stages/upsert-stage";
import { createUser } from "../users/create-user";
import { grantWaiver } from "../waivers/grant-waiver";
import { listWaivers } from "../waivers/list-waivers";
import { deliverWebhooks } from "../webhooks/deliver-webhooks";
import { createWebhook } from "../webhooks/create-webhook";
import { getRequest } from "./get-request";
import { listMyImages } from "./list-my-images";
import { listRequests } from "./list-requests";
import { requestPromotion } from "./request-promotion";
import { reviewRequest } from "./review-request";
import { withdrawRequest } from "./withdraw-request";
import { NextRequest } from "next/server";
import * as reviewsRoute from "../../../app/api/v1/requests/[id]/reviews/route";
import { createToken } from "../tokens/create-token";

const system: Actor = { kind: "system", label: "test" };
const TRIVY = readFileSync(join(__dirname, "../../evidence/testdata/trivy-alpine-3.10-schema2.json"));
let client: RegistryClient;
let n = 0;

async function newImage(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { digest: img.digest, imageId: row.id };
}

async function sigLayers(repo: string, digest: Digest, c = client) {
  const m = await c.getManifest(repo, cosignTag(digest, "sig"));
  const p = parseManifest(m.bytes, m.mediaType);
  if (p.kind !== "manifest") throw new Error("not a manifest");
  return p.manifest.layers;
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com", "carol@example.com"] });
  await upsertGroup({ actor: system, name: "security-leads", members: ["carol@example.com"] });
  await upsertStage({
    actor: system,
    name: "test",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], waiverGroup: "security-leads", gates: {} },
  });
  await upsertStage({
    actor: system,
    name: "prod",
    settings: { requiredApprovals: 2, reviewerGroups: ["security"], waiverGroup: "security-leads", gates: {} },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("N distinct approvals", () => {
  it("signs only at the Nth distinct approval; a double submission counts once; the record holds it all", async () => {
    const { digest, imageId } = await newImage("wf/happy");
    const dev = await userActor("dev@example.com");
    const alice = await userActor("alice@example.com");
    const bob = await userActor("bob@example.com");
    const req = await requestPromotion({ actor: dev, registry: "default", repository: "wf/happy", digest, stage: "prod", note: "release 1.2" });
    expect(req.created).toBe(true);
    // Asking again returns the open request.
    expect((await requestPromotion({ actor: dev, registry: "default", repository: "wf/happy", digest, stage: "prod", note: "again" })).id).toBe(req.id);
    expect((await listRequests({ actor: alice, view: "inbox" })).map((r) => r.id)).toContain(req.id);
    expect((await listRequests({ actor: dev, view: "inbox" })).map((r) => r.id)).not.toContain(req.id);

    const first = await reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" });
    expect(first).toMatchObject({ status: "open", approvals: 1, required: 2, approvalId: null });
    const again = await reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" });
    expect(again).toMatchObject({ duplicate: true, approvals: 1 });
    await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "reject", comment: "changed my mind" })).rejects.toMatchObject({
      code: "CONFLICT",
    });
    expect(await db.approval.count({ where: { imageId } })).toBe(0);
    expect((await getRequest({ actor: dev, requestId: req.id })).approvals.summary).toBe("needs 2 approvals from group security, has 1 (Alice Reviewer)");
    expect((await listRequests({ actor: alice, view: "inbox" })).map((r) => r.id)).not.toContain(req.id);
    const mine = (await listMyImages({ actor: dev })).find((i) => i.digest === digest)!;
    expect(mine.blockers.join(" ")).toContain("no promotion to build has been requested");

    const second = await reviewRequest({ actor: bob, requestId: req.id, decision: "approve", comment: "lgtm" });
    expect(second).toMatchObject({ status: "signed", approvals: 2 });
    const record = await getRequest({ actor: dev, requestId: req.id });
    expect(record.status).toBe("signed");
    expect(record.reviews.map((r) => r.reviewer)).toEqual(["Alice Reviewer", "Bob Reviewer"]);
    expect(record.signature?.status).toBe("signed");
    const approval = await db.approval.findUniqueOrThrow({ where: { requestId: req.id } });
    const payload = JSON.parse(Buffer.from(approval.payload).toString("utf8"));
    expect(payload.optional["dev.imprimatur/approvers"]).toBe(`${alice.id},${bob.id}`);
    expect(payload.optional["dev.imprimatur/request-id"]).toBe(req.id);
    expect(payload.optional["dev.imprimatur/break-glass"]).toBeUndefined();
    expect((await sigLayers("wf/happy", digest)).map((l) => l.digest)).toEqual([approval.layerDigest]);
    const img = await getImage({ actor: dev, registry: "default", repository: "wf/happy", digest });
    expect(img.stages.find((s) => s.stage === "prod")?.state).toBe("approved");
    expect((await evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/wf/happy@${digest}`, stage: "prod", refuseTags: true })).allowed).toBe(
      true,
    );
  });
});

describe("four eyes and groups", () => {
  it("refuses the requester, the build's CI identity, non-members and developers, and records nothing", async () => {
    const { digest, imageId } = await newImage("wf/eyes");
    const alice = await userActor("alice@example.com");
    const bob = await userActor("bob@example.com");
    const dev = await userActor("dev@example.com");
    const carol = await userActor("carol@example.com");
    await createUser({ actor: system, email: "outsider@example.com", name: "Outside Reviewer", role: "reviewer", password: "outsider-pass-123" });
    const outsider = await userActor("outsider@example.com");
    // bob uploads the build's provenance: he is the CI identity behind it.
    // Re-pointed at this image; its signature no longer verifies, which this test does not need.
    const env = JSON.parse(readFileSync(join(__dirname, "../../evidence/testdata/tekton-chains-slsa-0.2-dsse.json"), "utf8"));
    const statement = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8"));
    statement.subject = [{ name: "wf/eyes", digest: { sha256: digest.slice("sha256:".length) } }];
    env.payload = Buffer.from(JSON.stringify(statement)).toString("base64");
    await ingestEvidence({ actor: bob, imageId, bytes: Buffer.from(JSON.stringify(env)), source: "upload" });
    const req = await requestPromotion({ actor: alice, registry: "default", repository: "wf/eyes", digest, stage: "test", note: "alice asks" });

    await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "self" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("requester cannot approve"),
    });
    await expect(reviewRequest({ actor: bob, requestId: req.id, decision: "approve", comment: "mine" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("build's provenance"),
    });
    await expect(reviewRequest({ actor: outsider, requestId: req.id, decision: "approve", comment: "x" })).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: expect.stringContaining("group security"),
    });
    await expect(reviewRequest({ actor: dev, requestId: req.id, decision: "approve", comment: "x" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(reviewRequest({ actor: carol, requestId: req.id, decision: "reject", comment: "" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "comment",
    });
    expect(await db.review.count({ where: { requestId: req.id } })).toBe(0);
    const denied = await db.auditEvent.findMany({ where: { outcome: "denied", action: "review.approve" } });
    expect(denied.length).toBeGreaterThanOrEqual(4);

    await expect(withdrawRequest({ actor: bob, requestId: req.id, reason: "not mine" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    // The build's CI identity cannot waive its gates either, even as a member of the waiver group.
    await upsertGroup({ actor: system, name: "security-leads", description: "May grant waivers", members: ["carol@example.com", "bob@example.com"] });
    await expect(
      grantWaiver({
        actor: bob,
        registry: "default",
        stage: "test",
        gate: "sbom",
        repository: "wf/eyes",
        digest,
        reason: "my own build",
        expiresAt: new Date(Date.now() + 86_400_000),
      }),
    ).rejects.toMatchObject({ code: "FORBIDDEN", message: expect.stringContaining("provenance") });
    await upsertGroup({ actor: system, name: "security-leads", members: ["carol@example.com"] });
    // Updating members alone keeps the description.
    expect((await db.group.findUniqueOrThrow({ where: { name: "security-leads" } })).description).toBe("May grant waivers");
    const rejected = await reviewRequest({ actor: carol, requestId: req.id, decision: "reject", comment: "missing changelog" });
    await expect(withdrawRequest({ actor: alice, requestId: req.id, reason: "too late" })).rejects.toMatchObject({ code: "CONFLICT" });
    // A rejected request can be asked for again, and the new one withdrawn by its requester.
    const again = await requestPromotion({ actor: alice, registry: "default", repository: "wf/eyes", digest, stage: "test", note: "fixed the changelog" });
    expect(again.created).toBe(true);
    expect((await withdrawRequest({ actor: alice, requestId: again.id, reason: "wrong digest" })).status).toBe("withdrawn");
    expect(rejected.status).toBe("rejected");
    await expect(reviewRequest({ actor: outsider, requestId: req.id, decision: "approve", comment: "late" })).rejects.toMatchObject({ code: "CONFLICT" });
    expect(await db.approval.count({ where: { imageId } })).toBe(0);
  });

  it("a break-glass approval needs an admin and a reason, is audited, and is marked in the signed payload", async () => {
    const { digest } = await newImage("wf/glass");
    const dev = await userActor("dev@example.com");
    const alice = await userActor("alice@example.com");
    const admin = await userActor("admin@example.com");
    const req = await requestPromotion({ actor: admin, registry: "default", repository: "wf/glass", digest, stage: "test", note: "hotfix" });
    await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "override please", breakGlass: true })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(reviewRequest({ actor: admin, requestId: req.id, decision: "approve", comment: "short", breakGlass: true })).rejects.toMatchObject({
      code: "INVALID_INPUT",
    });
    // Without break-glass the admin is refused: the requester, and not in the security group.
    await expect(reviewRequest({ actor: admin, requestId: req.id, decision: "approve", comment: "x" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    const r = await reviewRequest({
      actor: admin,
      requestId: req.id,
      decision: "approve",
      comment: "incident 4711: prod down, security on call unreachable",
      breakGlass: true,
    });
    expect(r.status).toBe("signed");
    const approval = await db.approval.findUniqueOrThrow({ where: { requestId: req.id } });
    const optional = JSON.parse(Buffer.from(approval.payload).toString("utf8")).optional;
    expect(optional["dev.imprimatur/break-glass"]).toBe("true");
    expect(optional["dev.imprimatur/break-glass-reason"]).toContain("incident 4711");
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "review.break-glass", targetDigest: digest } });
    expect(JSON.stringify(audit.detail)).toContain("requester cannot approve");
    expect((await getRequest({ actor: dev, requestId: req.id })).breakGlass).toBe(true);
  });
});

describe("break glass overrides only the failing gates its confirmation listed", () => {
  // Found by review: the confirmation lists the gates as the page rendered them, but the server overrode whatever
  // failed when it signed: a gate failing since (a new advisory, say) was overridden unseen.
  it("refuses (409) when a gate fails that the confirmation did not list, and signs when it listed every one", async () => {
    const { digest } = await newImage("wf/glass-gates");
    const admin = await userActor("admin@example.com");
    await upsertStage({ actor: system, name: "build", settings: { gates: { sbom: true } } });
    try {
      const req = await requestPromotion({ actor: admin, registry: "default", repository: "wf/glass-gates", digest, stage: "build", note: "hotfix" });
      const glass = (expectOverrides: string[]) =>
        reviewRequest({
          actor: admin,
          requestId: req.id,
          decision: "approve",
          comment: "incident 4712: prod down, reviewers unreachable",
          breakGlass: true,
          expectOverrides,
        });
      await expect(glass([])).rejects.toMatchObject({ code: "CONFLICT", field: "expectOverrides", message: expect.stringContaining("SBOM present") });
      expect(await db.approval.count({ where: { requestId: req.id } })).toBe(0);
      expect((await glass(["SBOM present"])).status).toBe("signed");
    } finally {
      await upsertStage({ actor: system, name: "build", settings: { gates: {} } });
    }
  });
});

describe("break glass overrides only the vulnerabilities its confirmation listed", () => {
  // Found by review: the confirmation sent only gate labels, so a critical CVE matched after the page was shown, under
  // the same failing findings gate, was overridden unseen; and a caller that sent no list at all overrode everything.
  it("refuses (409) a findings gate failing on an id the confirmation did not show, or a list omitted; signs when every one was shown", async () => {
    const { digest, imageId } = await newImage("wf/glass-ids");
    const admin = await userActor("admin@example.com");
    const { configDigest } = await db.image.findUniqueOrThrow({ where: { id: imageId } });
    const scan = JSON.parse(TRIVY.toString("utf8"));
    scan.Metadata.ImageID = configDigest;
    await ingestEvidence({ actor: system, imageId, bytes: Buffer.from(JSON.stringify(scan)), source: "upload" });
    await upsertStage({ actor: system, name: "build", settings: { gates: { findings: { max: { medium: 0 } } } } });
    try {
      const req = await requestPromotion({ actor: admin, registry: "default", repository: "wf/glass-ids", digest, stage: "build", note: "hotfix" });
      const gate = (await getRequest({ actor: admin, requestId: req.id })).gates.find((g) => !g.passed)!;
      expect(gate.failingIds).toEqual(["CVE-2019-1549", "CVE-2019-1551"]);
      const glass = (more: { expectOverrides?: string[]; expectFailingIds?: string[] }) =>
        reviewRequest({
          actor: admin,
          requestId: req.id,
          decision: "approve",
          comment: "incident 4713: prod down, reviewers unreachable",
          breakGlass: true,
          ...more,
        });
      // An API caller that lists nothing has seen nothing.
      await expect(glass({})).rejects.toMatchObject({ code: "CONFLICT", field: "expectOverrides", message: expect.stringContaining(gate.label) });
      // The page showed one medium; the second matched since.
      await expect(glass({ expectOverrides: [gate.label], expectFailingIds: ["CVE-2019-1549"] })).rejects.toMatchObject({
        code: "CONFLICT",
        field: "expectFailingIds",
        message: expect.stringMatching(/CVE-2019-1551 over the limit/),
      });
      await expect(glass({ expectOverrides: [gate.label] })).rejects.toMatchObject({ code: "CONFLICT", field: "expectFailingIds" });
      expect(await db.approval.count({ where: { requestId: req.id } })).toBe(0);
      expect((await glass({ expectOverrides: [gate.label], expectFailingIds: ["CVE-2019-1551", "CVE-2019-1549"] })).status).toBe("signed");
    } finally {
      await upsertStage({ actor: system, name: "build", settings: { gates: {} } });
    }
  });
});

describe("break-glass through an API token", () => {
  async function review(token: string, requestId: string, body: unknown) {
    const req = new NextRequest(`http://127.0.0.1/api/v1/requests/${requestId}/reviews`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const res = await reviewsRoute.POST(req, { params: Promise.resolve({ id: requestId }) });
    return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string }; status?: string } };
  }

  it("needs the admin scope: an admin's review-scoped token approves within the rules only", async () => {
    const { digest } = await newImage("wf/glass-token");
    const admin = await userActor("admin@example.com");
    const req = await requestPromotion({ actor: admin, registry: "default", repository: "wf/glass-token", digest, stage: "test", note: "hotfix" });
    const reviewOnly = await createToken({ actor: admin, email: "admin@example.com", scopes: ["review"], expires: "1d" });
    const glass = { decision: "approve", comment: "incident 4712: prod down, security on call unreachable", breakGlass: true };
    const refused = await review(reviewOnly.token, req.id, glass);
    expect(refused.status, "a review-scoped token overrode four eyes and the gates").toBe(403);
    expect(refused.body.error?.message).toContain("admin scope");
    expect(await db.review.count({ where: { requestId: req.id } })).toBe(0);
    expect(await db.approval.count({ where: { requestId: req.id } })).toBe(0);

    const full = await createToken({ actor: admin, email: "admin@example.com", scopes: ["admin"], expires: "1d" });
    const ok = await review(full.token, req.id, glass);
    expect(ok.status).toBe(201);
    expect(ok.body.status).toBe("signed");
  });
});

describe("gates and waivers", () => {
  it("explains a failing gate, refuses the approval, then a waiver lets it pass; an expired waiver stops counting", async () => {
    const { digest, imageId } = await newImage("wf/gate");
    const dev = await userActor("dev@example.com");
    const alice = await userActor("alice@example.com");
    const bob = await userActor("bob@example.com");
    const carol = await userActor("carol@example.com");
    const { configDigest } = await db.image.findUniqueOrThrow({ where: { id: imageId } });
    const scan = JSON.parse(TRIVY.toString("utf8"));
    scan.Metadata.ImageID = configDigest;
    // CI uploads the scan (here with the admin's account): the requester's own unsigned scan would not count for their
    // request (four eyes on evidence, requester-evidence.int.test.ts).
    await ingestEvidence({ actor: await userActor("admin@example.com"), imageId, bytes: Buffer.from(JSON.stringify(scan)), source: "upload" });
    await upsertStage({
      actor: system,
      name: "build",
      settings: {
        requiredApprovals: 1,
        reviewerGroups: ["security"],
        waiverGroup: "security-leads",
        gates: { findings: { max: { critical: 0, medium: 0 } }, sbom: true },
      },
    });
    try {
      const req = await requestPromotion({ actor: dev, registry: "default", repository: "wf/gate", digest, stage: "build", note: "please" });
      const open = await getRequest({ actor: alice, requestId: req.id });
      expect(open.gates.map((g) => [g.gate, g.passed])).toEqual([
        ["findings", false],
        ["sbom", false],
      ]);
      expect(open.gates[0]!.detail).toBe("medium findings 2 > 0 allowed: CVE-2019-1549, CVE-2019-1551");
      await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" })).rejects.toMatchObject({
        code: "POLICY_VIOLATION",
        message: expect.stringContaining("medium findings 2 > 0 allowed"),
      });

      const expires = new Date(Date.now() + 7 * 86_400_000);
      // Never the requester, never outside the waiver group.
      await expect(
        grantWaiver({
          actor: dev,
          registry: "default",
          stage: "build",
          gate: "sbom",
          repository: "wf/gate",
          digest,
          reason: "legacy build",
          expiresAt: expires,
        }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(
        grantWaiver({
          actor: alice,
          registry: "default",
          stage: "build",
          gate: "sbom",
          repository: "wf/gate",
          digest,
          reason: "legacy build",
          expiresAt: expires,
        }),
      ).rejects.toMatchObject({ code: "FORBIDDEN" });
      await expect(
        grantWaiver({
          actor: carol,
          registry: "default",
          stage: "build",
          gate: "sbom",
          repository: "wf/gate",
          digest,
          reason: "legacy build",
          expiresAt: new Date(Date.now() - 1000),
        }),
      ).rejects.toMatchObject({ code: "INVALID_INPUT" });
      const w1 = await grantWaiver({
        actor: carol,
        registry: "default",
        stage: "build",
        gate: "findings",
        vulnIds: ["CVE-2019-1549", "CVE-2019-1551"],
        repository: "wf/gate",
        digest,
        reason: "openssl not reachable from the app",
        expiresAt: expires,
      });
      const w2 = await grantWaiver({
        actor: carol,
        registry: "default",
        stage: "build",
        gate: "sbom",
        repository: "wf/gate",
        reason: "SBOM tooling lands next sprint",
        expiresAt: expires,
      });

      const waived = await getRequest({ actor: alice, requestId: req.id });
      expect(waived.gates.every((g) => g.passed && g.waived)).toBe(true);
      // An expired waiver stops counting.
      await db.waiver.update({ where: { id: w2.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
      await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" })).rejects.toMatchObject({
        code: "POLICY_VIOLATION",
        message: expect.stringContaining("SBOM"),
      });
      await db.waiver.update({ where: { id: w2.id }, data: { expiresAt: expires } });

      const r = await reviewRequest({ actor: bob, requestId: req.id, decision: "approve", comment: "ok with waivers" });
      expect(r.status).toBe("signed");
      const record = await getRequest({ actor: dev, requestId: req.id });
      expect(record.waivers.map((w) => w.id).sort()).toEqual([w1.id, w2.id].sort());
      expect(record.reviews[0]!.waiverIds.sort()).toEqual([w1.id, w2.id].sort());
      const optional = JSON.parse(Buffer.from((await db.approval.findUniqueOrThrow({ where: { requestId: req.id } })).payload).toString("utf8")).optional;
      expect(optional["dev.imprimatur/waivers"].split(",").sort()).toEqual([w1.id, w2.id].sort());
      expect(await db.auditEvent.count({ where: { action: "waiver.grant" } })).toBeGreaterThanOrEqual(2);
      const seenByCarol = (await listWaivers({ actor: carol })).find((w) => w.id === w1.id)!;
      expect(seenByCarol).toMatchObject({ state: "active", canRevoke: true, usedBy: [{ requestId: req.id, reviewer: "Bob Reviewer" }] });
      expect((await listWaivers({ actor: alice })).find((w) => w.id === w1.id)!.canRevoke).toBe(false);
    } finally {
      await upsertStage({ actor: system, name: "build", settings: { gates: {} } });
    }
  });
});

describe("a stage that also emits a Sigstore bundle", () => {
  it("attaches the bundle as an OCI referrer when the Nth approval signs", async () => {
    const { digest, imageId } = await newImage("wf/bundle");
    await upsertStage({ actor: system, name: "bundled", settings: { requiredApprovals: 1, reviewerGroups: ["security"], emitBundle: true } });
    const req = await requestPromotion({
      actor: await userActor("dev@example.com"),
      registry: "default",
      repository: "wf/bundle",
      digest,
      stage: "bundled",
      note: "n",
    });
    expect((await reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "ok" })).status).toBe("signed");
    const approval = await db.approval.findUniqueOrThrow({ where: { requestId: req.id } });
    const bundle = await db.stageBundle.findUniqueOrThrow({ where: { approvalId: approval.id } });
    expect(bundle.imageId).toBe(imageId);
    const refs = await listReferrers(client, "wf/bundle", digest as Digest);
    expect(refs.map((r) => r.digest)).toContain(bundle.artifactDigest);
  });
});

/** An image really built on `baseRepo@baseDigest`: the base's layers (and diff IDs) first, then one layer of its own. */
async function buildOnBase(baseRepo: string, baseDigest: Digest, repo: string, annotations: Record<string, string>) {
  const base = JSON.parse((await client.getManifest(baseRepo, baseDigest)).bytes.toString("utf8"));
  const baseCfg = JSON.parse((await client.getBlob(baseRepo, base.config.digest)).toString("utf8"));
  const own = buildImage({ architecture: baseCfg.architecture, layers: [{ "app.txt": `really on base ${++n}` }] });
  const ownManifest = JSON.parse(own.manifest.toString("utf8"));
  const ownCfg = JSON.parse(own.blobs[0]!.bytes.toString("utf8"));
  const config = Buffer.from(JSON.stringify({ ...baseCfg, rootfs: { type: "layers", diff_ids: [...baseCfg.rootfs.diff_ids, ...ownCfg.rootfs.diff_ids] } }));
  for (const l of base.layers) await client.putBlob(repo, await client.getBlob(baseRepo, l.digest));
  for (const b of own.blobs.slice(1)) await client.putBlob(repo, b.bytes);
  await client.putBlob(repo, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256Digest(config), size: config.length },
      layers: [...base.layers, ...ownManifest.layers],
      annotations,
    }),
  );
  const digest = sha256Digest(manifest);
  await client.putManifest(repo, digest, manifest, "application/vnd.oci.image.manifest.v1+json");
  await client.putManifest(repo, "1", manifest, "application/vnd.oci.image.manifest.v1+json");
  return digest;
}

describe("the base image gate", () => {
  it("holds only when the image's layers start with the annotated base's and the base has a verified publisher signature", async () => {
    const pushed = await pushOciLayout(client, "publisher/base", join(FIXTURE, "oci-layout"));
    const baseDigest = pushed.find((p) => p.tag === "1.0")!.digest;
    const host = new URL(process.env.REGISTRY_URL!).host;
    const annotations = { "org.opencontainers.image.base.name": `${host}/publisher/base:1.0`, "org.opencontainers.image.base.digest": baseDigest };
    // Built on the base for real, and a forgery that only claims it (its own layers, the same annotations).
    const realDigest = await buildOnBase("publisher/base", baseDigest, "wf/onbase", annotations);
    const forged = buildImage({ architecture: "amd64", layers: [{ "app.txt": "on base" }], annotations });
    await pushImage(client, "wf/claimsbase", forged, ["1"]);
    await syncRegistry({ actor: system, registry: "default" });
    expect((await db.image.findFirstOrThrow({ where: { digest: realDigest } })).diffIds).toHaveLength(2);
    const dev = await userActor("dev@example.com");
    await upsertStage({ actor: system, name: "basegate", settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { basePublisher: true } } });
    const req = await requestPromotion({ actor: dev, registry: "default", repository: "wf/onbase", digest: realDigest, stage: "basegate", note: "n" });
    const fake = await requestPromotion({ actor: dev, registry: "default", repository: "wf/claimsbase", digest: forged.digest, stage: "basegate", note: "n" });
    const before = (await getRequest({ actor: dev, requestId: req.id })).gates[0]!;
    expect(before).toMatchObject({ gate: "basePublisher", passed: false });
    expect(before.detail).toContain("no verified publisher signature");

    await addTrustedKey({ actor: system, name: "publisher", pem: readFileSync(join(FIXTURE, "publisher.pub"), "utf8") });
    await syncRegistry({ actor: system, registry: "default" });
    const after = (await getRequest({ actor: dev, requestId: req.id })).gates[0]!;
    expect(after).toMatchObject({ gate: "basePublisher", passed: true });
    expect(after.detail).toContain("publisher signature verified by publisher");
    // The annotation alone proves nothing, however well the claimed base is signed.
    const claimed = (await getRequest({ actor: dev, requestId: fake.id })).gates[0]!;
    expect(claimed).toMatchObject({ gate: "basePublisher", passed: false });
    expect(claimed.detail).toBe(`claims base ${host}/publisher/base:1.0, but its layers do not start with ${host}/publisher/base:1.0's`);
    // The image page says so too, next to the base's (valid) signatures.
    expect((await getImage({ actor: dev, registry: "default", repository: "wf/claimsbase", digest: forged.digest })).base).toMatchObject({
      layersProven: false,
      detail: claimed.detail,
    });
    expect((await getImage({ actor: dev, registry: "default", repository: "wf/onbase", digest: realDigest })).base).toMatchObject({ layersProven: true });
  });
});

describe("truthful under concurrency and failure", () => {
  it("50 reviewers approving one request at once record exactly the approvals that count and make one signature", async () => {
    const { digest, imageId } = await newImage("wf/fifty");
    const emails = Array.from({ length: 50 }, (_, i) => `rev${i}@example.com`);
    for (const email of emails) await createUser({ actor: system, email, name: email.split("@")[0]!, role: "reviewer", password: "reviewer-pass-123" });
    await upsertGroup({ actor: system, name: "crowd", members: emails });
    await upsertStage({ actor: system, name: "crowdstage", settings: { requiredApprovals: 3, reviewerGroups: ["crowd"] } });
    const req = await requestPromotion({
      actor: await userActor("dev@example.com"),
      registry: "default",
      repository: "wf/fifty",
      digest,
      stage: "crowdstage",
      note: "go",
    });
    const actors = await Promise.all(emails.map(userActor));
    // Every reviewer submits twice (a double click), all at once.
    const results = await Promise.allSettled(
      [...actors, ...actors.slice(0, 10)].map((a) => reviewRequest({ actor: a, requestId: req.id, decision: "approve", comment: "yes" })),
    );
    const ok = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(refused.every((r) => (r.reason as { code?: string }).code === "CONFLICT")).toBe(true);
    expect(await db.review.count({ where: { requestId: req.id } })).toBe(3);
    expect(await db.approval.count({ where: { imageId } })).toBe(1);
    expect(ok.length).toBeGreaterThanOrEqual(3);
    expect((await getRequest({ actor: actors[0]!, requestId: req.id })).status).toBe("signed");
    expect(await sigLayers("wf/fifty", digest)).toHaveLength(1);
  }, 120_000);

  it("registry down at the Nth approval: 'approved, signature pending', never passed, then the retry signs it", async () => {
    const reg: RegistryHandle = await startRegistry({});
    try {
      const c2 = new RegistryClient({ url: reg.url });
      const img = buildImage({ architecture: "amd64", layers: [{ "down.txt": "x" }] });
      await pushImage(c2, "wf/down", img, ["1"]);
      await db.registry.create({ data: { name: "wf-outage", url: reg.url } });
      await syncRegistry({ actor: system, registry: "wf-outage" });
      const dev = await userActor("dev@example.com");
      const alice = await userActor("alice@example.com");
      const bob = await userActor("bob@example.com");
      const req = await requestPromotion({ actor: dev, registry: "wf-outage", repository: "wf/down", digest: img.digest, stage: "prod", note: "n" });
      await reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "1" });
      await reg.stop();
      const r = await reviewRequest({ actor: bob, requestId: req.id, decision: "approve", comment: "2" });
      expect(r.status).toBe("approved");
      expect(r.pendingReason).toBeTruthy();
      expect((await getRequest({ actor: dev, requestId: req.id })).state).toBe("approved, signature pending");
      const during = await getImage({ actor: dev, registry: "wf-outage", repository: "wf/down", digest: img.digest });
      expect(during.stages.find((s) => s.stage === "prod")?.state).toBe("signature pending");
      const verdict = await evaluateImage({ image: `${new URL(reg.url).host}/wf/down@${img.digest}`, stage: "prod", refuseTags: true });
      expect(verdict.allowed).toBe(false);
      expect(verdict.reasons.join(" ")).toContain("not yet in the registry");

      await reg.start();
      const done = await completePendingSignatures({ actor: system, registryId: (await db.registry.findUniqueOrThrow({ where: { name: "wf-outage" } })).id });
      expect(done.completed).toBe(1);
      expect((await getRequest({ actor: dev, requestId: req.id })).status).toBe("signed");
      expect(await sigLayers("wf/down", img.digest, c2)).toHaveLength(1);
      expect((await evaluateImage({ image: `${new URL(reg.url).host}/wf/down@${img.digest}`, stage: "prod", refuseTags: true })).allowed).toBe(true);
    } finally {
      await reg.destroy();
      await db.registry.update({ where: { name: "wf-outage" }, data: { enabled: false, name: `wf-outage-gone-${Date.now()}` } }).catch(() => {});
    }
  }, 60_000);
});

describe("webhooks", () => {
  it("delivers request events to a subscribed receiver with an HMAC signature, from an outbox", async () => {
    const got: { headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const server: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        got.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const port = (server.address() as AddressInfo).port;
      const admin = await userActor("admin@example.com");
      await expect(createWebhook({ actor: admin, name: "meta", url: "http://169.254.169.254/x", events: [] })).rejects.toMatchObject({ code: "INVALID_INPUT" });
      const hook = await createWebhook({ actor: admin, name: "reviewers", url: `http://127.0.0.1:${port}/hook`, events: ["request.created"] });
      const { digest } = await newImage("wf/hook");
      const req = await requestPromotion({
        actor: await userActor("dev@example.com"),
        registry: "default",
        repository: "wf/hook",
        digest,
        stage: "test",
        note: "hook me",
      });
      // Delivery is kicked right after the commit; a concurrent run skips rows another one holds (SKIP LOCKED).
      for (let i = 0; i < 50 && !got.some((g) => g.body.includes(req.id)); i++) {
        await deliverWebhooks();
        await new Promise((r) => setTimeout(r, 100));
      }
      const mine = got.filter((g) => g.body.includes(req.id));
      expect(mine).toHaveLength(1);
      const { headers, body } = mine[0]!;
      expect(headers["x-imprimatur-event"]).toBe("request.created");
      expect(headers["content-type"]).toBe("application/cloudevents+json; charset=utf-8");
      expect(headers["x-imprimatur-signature"]).toBe(`sha256=${createHmac("sha256", hook.secret).update(body).digest("hex")}`);
      // CloudEvents 1.0, structured mode: the event's fields are its data; the delivery id is its id.
      const ce = JSON.parse(body);
      expect(Object.keys(ce).sort()).toEqual(["data", "datacontenttype", "id", "source", "specversion", "subject", "time", "type"]);
      expect(ce).toMatchObject({
        specversion: "1.0",
        type: "dev.imprimatur.request.created",
        subject: `default/wf/hook@${digest}`,
        datacontenttype: "application/json",
        id: headers["x-imprimatur-delivery"],
      });
      expect(ce.source).toMatch(/^(https?:\/\/|urn:imprimatur)/);
      expect(new Date(ce.time).toISOString()).toBe(ce.time);
      expect(ce.data).toMatchObject({ requestId: req.id, stage: "test", digest, note: "hook me" });
      const d = await db.webhookDelivery.findFirstOrThrow({ where: { webhookId: hook.id, status: "delivered" } });
      expect(d.attempts).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe("webhook scope and formats", () => {
  it("delivers only events in a webhook's stages and repositories, and a Slack message when asked", async () => {
    const got: { url: string; headers: Record<string, string | string[] | undefined>; body: string }[] = [];
    const server: Server = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        got.push({ url: req.url ?? "", headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const admin = await userActor("admin@example.com");
      await expect(createWebhook({ actor: admin, name: "bad-format", url: `${base}/x`, events: [], format: "xml" })).rejects.toMatchObject({
        code: "INVALID_INPUT",
        field: "format",
      });
      await expect(createWebhook({ actor: admin, name: "bad-stage", url: `${base}/x`, events: [], stages: ["nope"] })).rejects.toMatchObject({
        code: "INVALID_INPUT",
        field: "stages",
      });
      await createWebhook({ actor: admin, name: "prod-only", url: `${base}/prod-only`, events: ["request.created"], stages: ["prod"] });
      await createWebhook({ actor: admin, name: "scoped-repo", url: `${base}/scoped-repo`, events: ["request.created"], repositories: ["scope/**"] });
      await createWebhook({ actor: admin, name: "other-repo", url: `${base}/other-repo`, events: ["request.created"], repositories: ["elsewhere/*"] });
      await createWebhook({ actor: admin, name: "slack", url: `${base}/slack`, events: ["request.created"], format: "slack", stages: ["test"] });
      const { digest } = await newImage("scope/app");
      const req = await requestPromotion({
        actor: await userActor("dev@example.com"),
        registry: "default",
        repository: "scope/app",
        digest,
        stage: "test",
        note: "<b>scoped</b>",
      });
      for (let i = 0; i < 50 && got.filter((g) => g.body.includes(req.id) || g.url === "/slack").length < 2; i++) {
        await deliverWebhooks();
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(got.map((g) => g.url).sort()).toEqual(["/scoped-repo", "/slack"]);
      const slack = JSON.parse(got.find((g) => g.url === "/slack")!.body);
      expect(slack.text).toBe(`*Promotion requested* \`default/scope/app@${digest.slice(0, 19)}…\` for *test* by dev@example.com: “&lt;b&gt;scoped&lt;/b&gt;”`);
      expect(slack.blocks[0].text.text).toBe(slack.text);
      expect(await db.webhookDelivery.count({ where: { webhook: { name: { in: ["prod-only", "other-repo"] } } } })).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe("the audit trail", () => {
  it("stays intact through the workflow", async () => {
    expect((await verifyAuditChain()).ok).toBe(true);
  });
});
