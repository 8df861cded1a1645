// Decisions computed ahead (issue 17): stage_decisions is kept by SQL triggers in the same transaction as every
// change it depends on, and verify / ImageReview read it. Each test makes one real event happen and asserts both
// the stored row and the verify answer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { revokeApproval } from "../approvals/revoke-approval";
import { listImages, parseListImagesQuery } from "../images/list-images";
import { actorForToken } from "../auth/authenticate";
import { createToken } from "../tokens/create-token";
import { revokeToken } from "../tokens/revoke-token";
import { syncRegistry } from "../images/sync-registry";
import { revokeStageKey } from "../keys/revoke-stage-key";
import { upsertStage } from "../stages/upsert-stage";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { deleteTrustIdentity } from "../trust/delete-trust-identity";
import { generateP256 } from "../../signing/keys/software";
import { evaluateImage } from "./evaluate-image";
import { reviewImages, setNamespacePolicy } from "./review-images";

const system: Actor = { kind: "system", label: "stage-decisions-test" };
let client: RegistryClient;
let host: string;
let n = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pushed(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()} ${Math.random()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { repo, digest: img.digest as Digest, imageId: row.id, ref: `${host}/${repo}@${img.digest}` };
}

async function approved(repo: string, stage: string) {
  const img = await pushed(repo);
  const a = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: repo, digest: img.digest, stage, comment: "ok" });
  return { ...img, approvalId: a.id! };
}

async function decision(imageId: string, stage: string) {
  const s = await db.stage.findUniqueOrThrow({ where: { name: stage } });
  return db.stageDecision.findUnique({ where: { imageId_stageId: { imageId, stageId: s.id } } });
}

const verify = (ref: string, stage: string) => evaluateImage({ image: ref, stage, refuseTags: true });

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
});

afterAll(async () => {
  await disconnectDb();
});

describe("decisions computed ahead", () => {
  it("an approval writes an allowing row in its own transaction; before it there is no row and verify denies", async () => {
    const img = await pushed("dec/approve");
    expect(await decision(img.imageId, "build")).toBeNull();
    expect(await verify(img.ref, "build")).toMatchObject({ allowed: false, reasons: ["stage build has no approval for this digest"] });
    const a = await requestAndApprove({ actor: await userActor("alice@example.com"), repository: img.repo, digest: img.digest, stage: "build", comment: "ok" });
    const row = await decision(img.imageId, "build");
    expect(row).toMatchObject({ allowed: true, state: "approved", digest: img.digest, approver: expect.any(String), validUntil: null });
    expect(row!.reasons[0]).toMatch(/^stage build passed: signed by stage:build/);
    const v = await verify(img.ref, "build");
    expect(v.allowed).toBe(true);
    expect(v.reasons).toEqual(row!.reasons);
    // Another stage of the same digest is untouched.
    expect(await decision(img.imageId, "prod")).toBeNull();
    expect((await verify(img.ref, "prod")).allowed).toBe(false);
    // An approval rolled back leaves no decision behind (same transaction).
    const before = await db.stageDecision.count();
    await expect(
      db.$transaction(async (tx) => {
        await tx.approval.update({ where: { id: a.id! }, data: { revokedAt: new Date(), revokedBy: "nobody", revocationReason: "rolled back" } });
        throw new Error("rollback");
      }),
    ).rejects.toThrow("rollback");
    expect(await db.stageDecision.count()).toBe(before);
    expect((await decision(img.imageId, "build"))!.allowed).toBe(true);
  });

  it("a single revocation flips the row and verify to denied at once", async () => {
    const img = await approved("dec/revoke", "build");
    expect((await decision(img.imageId, "build"))!.allowed).toBe(true);
    await revokeApproval({ approvalId: img.approvalId, actor: await userActor("admin@example.com"), reason: "shipped by mistake" });
    const row = await decision(img.imageId, "build");
    expect(row).toMatchObject({ allowed: false, state: "revoked" });
    expect(row!.reasons[0]).toMatch(/^stage build approval revoked: revoked .*: shipped by mistake$/);
    const v = await verify(img.ref, "build");
    expect(v.allowed).toBe(false);
    expect(v.reasons).toEqual(row!.reasons);
  });

  it("a stage key compromise flips every approval signed after the effective time", async () => {
    const img = await approved("dec/keycompromise", "test");
    expect((await decision(img.imageId, "test"))!.allowed).toBe(true);
    const approval = await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } });
    await revokeStageKey({
      actor: await userActor("admin@example.com"),
      stage: "test",
      effectiveAt: new Date(approval.createdAt.getTime() - 1),
      reason: "key compromised in CI",
    });
    const row = await decision(img.imageId, "test");
    expect(row).toMatchObject({ allowed: false, state: "revoked" });
    expect(row!.reasons.join(" ")).toMatch(/compromised/);
    expect((await verify(img.ref, "test")).reasons).toEqual(row!.reasons);
  });

  it("a signature that no longer verifies (what a sync writes after a trust change) denies; verifying again allows", async () => {
    const img = await approved("dec/trust", "build");
    const a = await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } });
    await db.signature.update({
      where: { imageId_layerDigest: { imageId: img.imageId, layerDigest: a.layerDigest } },
      data: { verdict: "unverified", keyName: null },
    });
    const row = await decision(img.imageId, "build");
    expect(row).toMatchObject({ allowed: false, state: "signed, not verified", detail: "unverified" });
    expect((await verify(img.ref, "build")).reasons).toEqual(["stage build was signed but the signature does not verify in the registry (unverified)"]);
    // A trust change (an identity added, then removed) makes the next sync re-verify every signature against the
    // current trust, in which the stage key still vouches: the rewritten verdict allows again.
    const admin = await userActor("admin@example.com");
    await createTrustIdentity({
      actor: admin,
      input: { name: "decisions-ci", kind: "key", role: "team", scope: ["dec/*"], publicKeyPem: generateP256().publicKeyPem },
    });
    await deleteTrustIdentity({ actor: admin, name: "decisions-ci" });
    await syncRegistry({ actor: system });
    expect((await decision(img.imageId, "build"))!.allowed).toBe(true);
    expect((await verify(img.ref, "build")).allowed).toBe(true);
    // The signature layer gone from the registry's record: denied, and says so.
    await db.signature.delete({ where: { imageId_layerDigest: { imageId: img.imageId, layerDigest: a.layerDigest } } });
    expect(await decision(img.imageId, "build")).toMatchObject({ allowed: false, detail: "the signature layer is missing from the registry" });
    await createTrustIdentity({
      actor: admin,
      input: { name: "decisions-ci-2", kind: "key", role: "team", scope: ["dec/*"], publicKeyPem: generateP256().publicKeyPem },
    });
    await syncRegistry({ actor: system });
    expect((await verify(img.ref, "build")).allowed).toBe(true);
  });

  it("expiry needs no write: past valid_until the reader recomputes, and a TTL change recomputes the rows", async () => {
    const img = await approved("dec/expiry", "prod");
    expect((await decision(img.imageId, "prod"))!.validUntil).toBeNull();
    await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: 30 } });
    // The TTL change rewrote the row: valid until 30 days after the approval's trusted time.
    const a = await db.approval.findUniqueOrThrow({ where: { id: img.approvalId } });
    const row = await decision(img.imageId, "prod");
    expect(row!.validUntil!.getTime()).toBe(a.createdAt.getTime() + 30 * 86_400_000);
    expect(row!.reasons[0]).toContain(`valid until ${row!.validUntil!.toISOString()}`);
    // The approval's trusted time moves to 1.5 s before its expiry; then time passes, nothing is written.
    await db.approval.update({ where: { id: a.id }, data: { createdAt: new Date(Date.now() - 30 * 86_400_000 + 1500) } });
    const soon = await decision(img.imageId, "prod");
    expect(soon!.allowed).toBe(true);
    expect((await verify(img.ref, "prod")).allowed).toBe(true);
    await sleep(2000);
    const stored = await decision(img.imageId, "prod");
    expect(stored!.allowed).toBe(true);
    expect(stored!.computedAt.getTime()).toBe(soon!.computedAt.getTime());
    const v = await verify(img.ref, "prod");
    expect(v.allowed).toBe(false);
    expect(v.reasons[0]).toMatch(
      /^stage prod approval expired: approved .* \(Imprimatur's record\); stage prod approvals last 30 days from the decision, so it expired /,
    );
    // Lifting the TTL recomputes the row: allowed, valid for ever.
    await upsertStage({ actor: system, name: "prod", settings: { approvalTtlDays: null } });
    expect(await decision(img.imageId, "prod")).toMatchObject({ allowed: true, validUntil: null });
    expect((await verify(img.ref, "prod")).allowed).toBe(true);
  });

  it("re-evaluation's risk adds the warning to an allowed row, and its removal takes it away", async () => {
    const img = await approved("dec/risk", "build");
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "build" } });
    const risk = await db.stageRisk.create({
      data: { imageId: img.imageId, stageId: stage.id, approvalId: img.approvalId, reasons: ["CVE-2021-23337 high in lodash 4.17.20"] },
    });
    const row = await decision(img.imageId, "build");
    expect(row!.allowed).toBe(true);
    expect(row!.reasons.at(-1)).toBe(
      `warning: at risk since ${risk.since.toISOString()}, the gates of build no longer hold: CVE-2021-23337 high in lodash 4.17.20`,
    );
    expect((await verify(img.ref, "build")).reasons.at(-1)).toBe(row!.reasons.at(-1));
    await db.stageRisk.update({ where: { id: risk.id }, data: { revokeAt: new Date("2030-01-01T00:00:00.000Z") } });
    expect((await decision(img.imageId, "build"))!.reasons.at(-1)).toMatch(/\(revoked at 2030-01-01T00:00:00.000Z unless waived\)/);
    await db.stageRisk.delete({ where: { id: risk.id } });
    expect((await decision(img.imageId, "build"))!.reasons).toHaveLength(1);
  });

  it("ImageReview reads the same decisions (3 containers, one denied)", async () => {
    const a = await approved("dec/review-a", "build");
    const b = await approved("dec/review-b", "build");
    const c = await pushed("dec/review-c");
    await setNamespacePolicy({ actor: system, namespace: "decisions", stage: "build" });
    const review = (images: string[]) =>
      reviewImages({
        actor: system,
        review: {
          apiVersion: "imagepolicy.k8s.io/v1alpha1",
          kind: "ImageReview",
          spec: { containers: images.map((image) => ({ image })), namespace: "decisions" },
        },
      });
    expect((await review([a.ref, b.ref])).status.allowed).toBe(true);
    const denied = await review([a.ref, c.ref, b.ref]);
    expect(denied.status).toEqual({ allowed: false, reason: `${c.ref}: stage build has no approval for this digest` });
  });

  it("the image list's stage filter and package search read the same decisions: revoked is not passed", async () => {
    const ok = await approved("dec/list-ok", "build");
    const rev = await approved("dec/list-revoked", "build");
    await revokeApproval({ approvalId: rev.approvalId, actor: await userActor("admin@example.com"), reason: "listed wrongly" });
    const passed = (await listImages({ actor: system, query: parseListImagesQuery({ stage: "build", pageSize: "200" }) })).items.map((i) => i.digest);
    expect(passed).toContain(ok.digest);
    expect(passed).not.toContain(rev.digest);
    const none = (await listImages({ actor: system, query: parseListImagesQuery({ stage: "none", pageSize: "200" }) })).items.map((i) => i.digest);
    expect(none).toContain(rev.digest);
    expect(none).not.toContain(ok.digest);
    // The same decision as verify gives.
    expect((await verify(rev.ref, "build")).allowed).toBe(false);
    expect((await verify(ok.ref, "build")).allowed).toBe(true);
  });

  // The token check caches for at most a second per replica (auth/token-cache.ts, token-cache.int.test.ts covers other
  // replicas); a revocation made through this replica clears it.
  it("a token revoked through this replica is refused on its very next request", async () => {
    const t = await createToken({ actor: system, email: "dev@example.com", scopes: ["admission"], expires: "1d" });
    expect(await actorForToken(t.token)).toMatchObject({ email: "dev@example.com", via: "token" });
    await revokeToken({ actor: system, idOrPrefix: t.id });
    expect(await actorForToken(t.token)).toBeNull();
  });
});
