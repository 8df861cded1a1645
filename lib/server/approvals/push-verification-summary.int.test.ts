import { bundleFromJSON } from "@sigstore/bundle";
import { toSignedEntity, Verifier } from "@sigstore/verify";
import { parse as parseYaml } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndApproved } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { listReferrers } from "../../oci/referrers";
import { verifyCosignLayer } from "../../signing/formats/cosign";
import { parsePublicKey } from "../../signing/keys/software";
import { toSigstoreTrustMaterial } from "../../signing/trust/sigstore-root";
import { EMPTY_TRUST } from "../../signing/verification";
import { gateConfigDigest, verifyVsaEnvelope, VSA_PREDICATE_TYPE } from "../../signing/formats/verification-summary";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { preAuthEncoding } from "../../evidence/dsse";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { signWithKey } from "../keys/load-stage-signer";
import { stopBoss } from "../jobs/boss";
import { rotateStageKey } from "../keys/rotate-signing-key";
import { exportStagePolicy } from "../stages/export-stage-policy";
import { upsertStage } from "../stages/upsert-stage";
import { completePendingRevocations } from "./complete-pending-revocations";
import { completePendingSummaries, pushVerificationSummary, removeVerificationSummary } from "./push-verification-summary";
import { revokeApproval } from "./revoke-approval";

const admin: Actor = { kind: "system", label: "vsa-test" };
const REPO = "vsa-test/app";
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

async function approved(stage: string, label: string) {
  const { img, approval } = await pushedAndApproved({ client, repository: REPO, stage, label });
  const row = await db.approval.findUniqueOrThrow({ where: { id: approval.id }, include: { signingKey: true, stage: true } });
  return { img, approval: row, key: parsePublicKey(row.signingKey.publicKeyPem) };
}

/** The `.att` manifest's layers with their blobs, as any client reads them. */
async function attLayers(digest: Digest) {
  let fetched;
  try {
    fetched = await client.getManifest(REPO, cosignTag(digest, "att"));
  } catch {
    return [];
  }
  const m = parseManifest(fetched.bytes, fetched.mediaType);
  if (m.kind !== "manifest") throw new Error("expected a manifest");
  return Promise.all(m.manifest.layers.map(async (l) => ({ layer: l, blob: await client.getBlob(REPO, l.digest as Digest) })));
}

describe("the signed verification summary of an approval", () => {
  it("is attached to .att by the approval workflow, and verifies with the stage's public key under DSSE PAE as read back", async () => {
    const { img, approval, key } = await approved("test", "vsa-1");
    const row = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } });
    expect(row.status).toBe("pushed");

    const layers = await attLayers(img.digest as Digest);
    expect(layers).toHaveLength(1);
    const { layer, blob } = layers[0]!;
    expect(layer.mediaType).toBe(MT.dsseEnvelope);
    expect(layer.annotations).toMatchObject({ predicateType: VSA_PREDICATE_TYPE, "dev.cosignproject.cosign/signature": "" });
    expect(layer.digest).toBe(row.layerDigest);

    const verified = verifyVsaEnvelope(blob, key, img.digest);
    expect(verified.ok).toBe(true);
    if (!verified.ok) return;
    const p = verified.statement.predicate as Record<string, any>;
    expect(p.verificationResult).toBe("PASSED");
    expect(p.resourceUri).toMatch(new RegExp(`/${REPO}@${img.digest}$`));
    expect(p.policy.digest.sha256).toBe(gateConfigDigest(approval.stage.gates));
    expect(typeof p.verifier.id).toBe("string");
    expect(Date.parse(p.timeVerified)).not.toBeNaN();
    expect(p["https://imprimatur.dev/vsa/v1"]).toMatchObject({ stage: "test", approvalId: approval.id, breakGlass: { used: false }, waivers: [] });

    // Another key, or a tampered statement, does not verify.
    const other = await db.signingKey.findFirstOrThrow({ where: { stage: { name: "prod" } } });
    expect(verifyVsaEnvelope(blob, parsePublicKey(other.publicKeyPem), img.digest)).toMatchObject({ ok: false });
    const env = JSON.parse(blob.toString("utf8")) as { payload: string };
    const forged = Buffer.from(
      JSON.stringify({
        ...env,
        payload: Buffer.from(
          Buffer.from(env.payload, "base64").toString("utf8").replace('"PASSED"', '"FAILED"').replace('"verifiedLevels"', '"verifiedLevels"'),
        ).toString("base64"),
      }),
    );
    expect(verifyVsaEnvelope(forged, key, img.digest)).toMatchObject({ ok: false, reason: "no signature verifies with the key under DSSE PAE" });

    // Pushing again is a no-op; the audit trail has one push.
    expect(await pushVerificationSummary({ approvalId: approval.id })).toMatchObject({ status: "pushed", existing: true });
    expect((await attLayers(img.digest as Digest)).length).toBe(1);
    expect(await db.auditEvent.count({ where: { action: "verification-summary.push", targetDigest: img.digest } })).toBe(1);

    // The sync reads it back as an attestation: shown as this server's own summary signed by the stage key, not as
    // "signature not verified" (no scanner key signs it).
    await syncRegistry({ actor: admin, registry: "default" });
    const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: REPO } } });
    const found = await db.evidenceDocument.findMany({ where: { imageId: image.id, predicateType: VSA_PREDICATE_TYPE } });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ source: "registry", signatureStatus: "signed", signedBy: approval.signingKey.name });
    expect(found[0]!.signatureDetail).toContain(`verification summary of approval ${approval.id} (stage test)`);
  });

  it("a revoked approval's summary pushed back into .att is found by the next sync and removed again by the tick", async () => {
    const { img, approval } = await approved("test", "vsa-back");
    const digest = img.digest as Digest;
    const tag = cosignTag(digest, "att");
    const saved = await client.getManifest(REPO, tag);
    const summary = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } });
    await syncRegistry({ actor: admin, registry: "default" });
    expect((await revokeApproval({ approvalId: approval.id, actor: admin, reason: "built from a compromised commit" })).state).toBe("removed");
    expect(await attLayers(digest)).toHaveLength(0);

    // Someone puts the saved .att manifest back: cosign verify-attestation would accept the summary with the stage key.
    await client.putManifest(REPO, tag, saved.bytes, saved.mediaType);
    expect((await attLayers(digest)).map((l) => l.layer.digest)).toContain(summary.layerDigest);
    await syncRegistry({ actor: admin, registry: "default" });
    expect(await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).toMatchObject({ revocationState: "pending" });
    await completePendingRevocations({ actor: admin });
    expect(await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).toMatchObject({ revocationState: "removed" });
    expect(await attLayers(digest)).toHaveLength(0);
  });

  it("a summary-shaped attestation this server did not sign (another key) is judged like any attestation", async () => {
    const { img, approval } = await approved("test", "vsa-foreign");
    const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: REPO } } });
    const row = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } });
    const env = JSON.parse(Buffer.from(row.envelope).toString("utf8")) as { payloadType: string; payload: string; signatures: { sig: string }[] };
    // The same statement, signed by another stage's key: the payload is this server's, the signature is not its summary's.
    const other = await db.signingKey.findFirstOrThrow({ where: { stage: { name: "prod" }, retiredAt: null } });
    const pae = preAuthEncoding(env.payloadType, Buffer.from(env.payload, "base64"));
    const sig = await signWithKey(other.id, pae, { actor: admin, purpose: "test", targetDigest: img.digest });
    const forged = Buffer.from(JSON.stringify({ ...env, signatures: [{ keyid: "", sig: sig.toString("base64") }] }));
    const out = await ingestEvidence({ actor: admin, imageId: image.id, bytes: forged, source: "registry", artifactDigest: null });
    expect(out.document).toMatchObject({ signatureStatus: "invalid", signedBy: null });
  });

  it("for a bundle-emitting stage is also a Sigstore bundle referrer that @sigstore/verify accepts with the stage key", async () => {
    await db.stage.update({ where: { name: "prod" }, data: { emitBundle: true } });
    const { img, approval, key } = await approved("prod", "vsa-2");
    const row = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } });
    expect(row.bundleArtifactDigest).toMatch(/^sha256:/);
    const refs = await listReferrers(client, REPO, img.digest as Digest);
    const ref = refs.find((r) => r.digest === row.bundleArtifactDigest);
    expect(ref?.annotations?.["dev.sigstore.bundle.predicateType"]).toBe(VSA_PREDICATE_TYPE);
    const m = parseManifest((await client.getManifest(REPO, ref!.digest)).bytes);
    if (m.kind !== "manifest") throw new Error("expected a manifest");
    const json = JSON.parse((await client.getBlob(REPO, m.manifest.layers[0]!.digest as Digest)).toString("utf8")) as Record<string, unknown>;
    const trust = toSigstoreTrustMaterial({ ...EMPTY_TRUST, keys: [{ name: "stage", fingerprint: key.fingerprint, key: key.key, algorithm: key.algorithm }] });
    const signer = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundleFromJSON(json)));
    expect(signer.key.export({ type: "spki", format: "der" }).equals(key.key.export({ type: "spki", format: "der" }))).toBe(true);

    // Revoking the approval removes both: the .att layer and the referrer; no retry puts them back.
    expect(await removeVerificationSummary({ approvalId: approval.id })).toEqual({ status: "removed" });
    expect(await attLayers(img.digest as Digest)).toEqual([]);
    expect((await listReferrers(client, REPO, img.digest as Digest)).some((r) => r.digest === row.bundleArtifactDigest)).toBe(false);
    expect((await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } })).status).toBe("removed");
    await completePendingSummaries();
    expect(await pushVerificationSummary({ approvalId: approval.id })).toMatchObject({ status: "skipped" });
    expect(await attLayers(img.digest as Digest)).toEqual([]);
    expect(await removeVerificationSummary({ approvalId: approval.id })).toEqual({ status: "none" });
    expect(await db.auditEvent.count({ where: { action: "verification-summary.remove", targetDigest: img.digest } })).toBe(1);
    // The stage signature itself is untouched by removing the summary.
    expect((await client.getManifest(REPO, cosignTag(img.digest as Digest, "sig"))).bytes.length).toBeGreaterThan(0);
  });

  it("an approval whose judged gates are missing from its request gets no summary: no PASSED over gates nobody recorded", async () => {
    const { img, approval } = await approved("build", "vsa-nogates");
    await removeVerificationSummary({ approvalId: approval.id });
    await db.verificationSummary.deleteMany({ where: { approvalId: approval.id } });
    // A hand-edited or restored row: the approved request's gate results are gone.
    await db.$executeRaw`UPDATE promotion_requests SET gate_results = NULL WHERE id = ${approval.requestId}::uuid`;
    await expect(pushVerificationSummary({ approvalId: approval.id })).rejects.toMatchObject({
      name: "JsonColumnError",
      table: "promotion_requests",
      column: "gate_results",
      rowId: approval.requestId,
    });
    expect(await db.verificationSummary.count({ where: { approvalId: approval.id } })).toBe(0);
    expect(await attLayers(img.digest as Digest)).toEqual([]);
  });

  it("a summary left pending (registry down) is pushed by the retry tick with the same envelope", async () => {
    const { img, approval } = await approved("build", "vsa-3");
    const row = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } });
    // As if the push had failed: forget it was pushed and drop it from the registry.
    await removeVerificationSummary({ approvalId: approval.id });
    await db.verificationSummary.update({ where: { id: row.id }, data: { status: "pending", removedAt: null } });
    expect(await attLayers(img.digest as Digest)).toEqual([]);
    const out = await completePendingSummaries();
    expect(out.pushed).toBeGreaterThanOrEqual(1);
    const layers = await attLayers(img.digest as Digest);
    expect(layers.map((l) => l.layer.digest)).toEqual([row.layerDigest]);
  });
});

describe("the exported stage policy", () => {
  it("embeds the key that verifies the stage's real signature in the registry, for every format", async () => {
    const { img, approval } = await approved("test", "policy-1");
    const sig = parseManifest((await client.getManifest(REPO, cosignTag(img.digest as Digest, "sig"))).bytes);
    if (sig.kind !== "manifest") throw new Error("expected a manifest");
    const layer = sig.manifest.layers.find((l) => l.digest === approval.layerDigest)!;
    const blob = await client.getBlob(REPO, layer.digest as Digest);
    for (const format of ["kyverno", "kyverno-clusterpolicy", "policy-controller", "cosign"] as const) {
      const out = await exportStagePolicy({ actor: admin, stage: "test", format });
      const pems = [...out.content.matchAll(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g)].map((m) => m[0].replace(/^\s+/gm, ""));
      expect(pems).toHaveLength(1);
      const k = parsePublicKey(pems[0]!);
      expect(
        verifyCosignLayer({ layer, blob, imageDigest: img.digest, trustedKeys: [{ name: "from-policy", fingerprint: k.fingerprint, key: k }] }).verdict,
      ).toBe("verified");
      // Images come from the repositories with requests for the stage (policy-controller refuses `@` in a glob).
      expect(out.content).toContain(format === "policy-controller" ? `/${REPO}*` : `/${REPO}@*`);
    }
  });

  it("after a rotation, lists the new key as current and keeps the retired one, whose signatures stay valid", async () => {
    const before = await db.signingKey.findFirstOrThrow({ where: { stage: { name: "test" }, retiredAt: null } });
    await rotateStageKey({ actor: admin, stage: "test" });
    const doc = parseYaml((await exportStagePolicy({ actor: admin, stage: "test", format: "kyverno" })).content) as {
      spec: { attestors: { name: string }[] };
      metadata: { annotations: Record<string, string> };
    };
    expect(doc.spec.attestors.map((a) => a.name)).toEqual(["current", "previous1"]);
    expect(doc.metadata.annotations["imprimatur.dev/keys"]).toContain(before.fingerprint);
  });

  it("maps namespaces from the admission settings and uses the admin's image patterns when given", async () => {
    const { setNamespacePolicy } = await import("../admission/review-images");
    await setNamespacePolicy({ actor: admin, namespace: "payments", stage: "prod", exempt: false });
    const doc = parseYaml((await exportStagePolicy({ actor: admin, stage: "prod", format: "kyverno", images: ["registry.example/team/*"] })).content) as {
      spec: { matchConstraints: { namespaceSelector: { matchExpressions: { values: string[] }[] } }; validations: { expression: string }[] };
    };
    expect(doc.spec.matchConstraints.namespaceSelector.matchExpressions[0]!.values).toEqual(["payments"]);
    expect(doc.spec.validations[0]!.expression).toContain(`image.matches('^(?:registry[.]example/team/.*)$')`);
  });

  it("refuses an unknown format with 422 listing the formats, and a stage without a current key with 409", async () => {
    await expect(exportStagePolicy({ actor: admin, stage: "test", format: "opa" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "format",
      message: expect.stringContaining("kyverno, kyverno-clusterpolicy, policy-controller, cosign"),
    });
    await expect(exportStagePolicy({ actor: admin, stage: "nope", format: "kyverno" })).rejects.toMatchObject({ code: "NOT_FOUND" });
    const last = await db.stage.findFirstOrThrow({ orderBy: { position: "desc" } });
    const bare = await db.stage.create({ data: { name: "keyless", position: last.position + 1 } });
    await expect(exportStagePolicy({ actor: admin, stage: "keyless", format: "kyverno", images: ["r/x:*"] })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("has no signing key"),
    });
    await upsertStage({ actor: admin, name: "retiring", settings: {} });
    await db.signingKey.updateMany({ where: { stage: { name: "retiring" } }, data: { retiredAt: new Date(), notAfter: new Date() } });
    await expect(exportStagePolicy({ actor: admin, stage: "retiring", format: "cosign", images: ["r/x:*"] })).rejects.toMatchObject({
      code: "CONFLICT",
      message: expect.stringContaining("only retired"),
    });
    await expect(exportStagePolicy({ actor: admin, stage: "test", format: "kyverno", images: ["bad pattern"] })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "images",
    });
    expect(bare.id).toBeTruthy();
  });
});
