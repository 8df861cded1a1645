// Evidence-uploader rules and the registry. Whoever can push to a repository (the developer who built the image, by
// definition) can attach a document as an OCI referrer, and the sync stores it with no uploader. Where uploader rules
// cover the repository, such a document counts in gates and advisory matching only when a trusted key signed it;
// otherwise it is stored and shown as not counted. Here an unsigned VEX the developer may not upload must not clear a
// known high advisory finding.
import { randomUUID } from "node:crypto";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { importAdvisories } from "../advisories/import-advisories";
import { ingestEvidence } from "./ingest-evidence";
import { setEvidenceUploaders } from "./set-evidence-uploaders";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { requestPromotion } from "../promotions/request-promotion";
import { reviewRequest } from "../promotions/review-request";
import { upsertStage } from "../stages/upsert-stage";
import { addTrustedKey } from "../keys/add-trusted-key";
import { REGISTRY_EVIDENCE_NOT_COUNTED } from "./may-attach-evidence";
import { attachReferrer as attachReferrerTo } from "../../../scripts/test-harness/attach-referrer";

const ADVISORY = readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json");
const CVE = "CVE-2021-23337";
const system: Actor = { kind: "system", label: "registry-evidence-rules" };
let client: RegistryClient;
let scannerKey: KeyObject;
const INTOTO = "application/vnd.in-toto+json";

/** The VEX as an in-toto statement about `digest` in a DSSE envelope signed by `key`: what a trusted scanner attaches. */
function signedVex(repo: string, digest: string, key: KeyObject): Buffer {
  const payload = Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: repo, digest: { sha256: digest.slice("sha256:".length) } }],
      predicateType: "https://cyclonedx.org/bom",
      predicate: JSON.parse(vex.toString("utf8")) as unknown,
    }),
  );
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${INTOTO.length} ${INTOTO} ${payload.length} `), payload]);
  const sig = sign("sha256", pae, { key, dsaEncoding: "der" }).toString("base64");
  return Buffer.from(JSON.stringify({ payloadType: INTOTO, payload: payload.toString("base64"), signatures: [{ keyid: "", sig }] }));
}

/** A pushed, synced image of `repo` that CI scanned and described (SBOM): the advisory makes lodash a high finding. */
async function scannedImage() {
  const repo = `regev/app-${randomUUID().slice(0, 8)}`;
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${randomUUID()}` }] });
  await pushImage(client, repo, img, ["v1"]);
  await syncRegistry({ actor: system, registry: "default" });
  const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  const carol = await userActor("carol@example.com");
  await ingestEvidence({ actor: carol, imageId: image.id, bytes: cleanScan, source: "upload" });
  await ingestEvidence({ actor: carol, imageId: image.id, bytes: sbom, source: "upload" });
  return { repo, img, image };
}

const advisoryStatus = async (imageId: string) =>
  (await db.finding.findFirstOrThrow({ where: { imageId, documentId: null, vulnId: { contains: "GHSA" } }, select: { status: true } })).status;

const sbom = Buffer.from(
  JSON.stringify({
    bomFormat: "CycloneDX",
    specVersion: "1.4",
    version: 1,
    serialNumber: `urn:uuid:${randomUUID()}`,
    components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20" }],
  }),
);
const cleanScan = Buffer.from(JSON.stringify({ SchemaVersion: 2, ArtifactName: `x-${randomUUID()}`, ArtifactType: "container_image", Results: [] }));
// What the developer says: the CVE does not affect this lodash. Nobody trusted says so.
const vex = Buffer.from(
  JSON.stringify({
    bomFormat: "CycloneDX",
    specVersion: "1.4",
    version: 1,
    components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20", "bom-ref": "l" }],
    vulnerabilities: [{ id: CVE, analysis: { state: "not_affected", justification: "code_not_reachable" }, affects: [{ ref: "l" }] }],
  }),
);

const attachReferrer = (repo: string, subject: Digest, subjectSize: number, doc: Buffer) => attachReferrerTo(client, repo, subject, subjectSize, doc);

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertGroup({ actor: system, name: "ci", members: ["carol@example.com"] });
  // Only the ci group attaches evidence to regev/**: the security team's answer to "developers grade their own homework".
  await setEvidenceUploaders({ actor: await userActor("admin@example.com"), rules: [{ pattern: "regev/**", group: "ci" }] });
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  scannerKey = privateKey;
  await addTrustedKey({
    actor: system,
    name: "regev-scanner",
    pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    role: "scanner",
    scope: ["regev/**"],
  });
  await upsertStage({
    actor: system,
    name: "test",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } } },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("evidence-uploader rules and the registry", () => {
  it("a VEX the developer may not upload does not clear a finding when pushed as a referrer instead", async () => {
    const repo = `regev/app-${randomUUID().slice(0, 8)}`;
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${Date.now()}` }] });
    await pushImage(client, repo, img, ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
    // CI (the ci group) attaches the scan and the SBOM; then the advisory shows lodash 4.17.20 is vulnerable (high).
    const carol = await userActor("carol@example.com");
    await ingestEvidence({ actor: carol, imageId: image.id, bytes: cleanScan, source: "upload" });
    await ingestEvidence({ actor: carol, imageId: image.id, bytes: sbom, source: "upload" });
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: ADVISORY, origin: "registry-evidence-rules" });
    expect(await db.finding.count({ where: { imageId: image.id, vulnId: { contains: "GHSA" }, status: "affected" } })).toBeGreaterThan(0);

    // The rule holds for the API: the developer may not attach the VEX.
    const dev = await userActor("dev@example.com");
    await expect(ingestEvidence({ actor: dev, imageId: image.id, bytes: vex, source: "upload" })).rejects.toMatchObject({ code: "FORBIDDEN" });

    // The developer pushes it next to the image instead (they have push access: they pushed the image) and asks.
    await attachReferrer(repo, img.digest as Digest, img.manifest.length, vex);
    await syncRegistry({ actor: system, registry: "default" });
    const stored = await db.evidenceDocument.findMany({
      where: { imageId: image.id, kind: "vex" },
      select: { uploaderId: true, signatureStatus: true, notCounted: true },
    });
    const advisoryFinding = (await db.finding.findFirstOrThrow({ where: { imageId: image.id, documentId: null }, select: { status: true } })).status;
    const req = await requestPromotion({ actor: dev, repository: repo, digest: img.digest as Digest, stage: "test", note: "please" });
    const outcome = await reviewRequest({
      actor: await userActor("alice@example.com"),
      requestId: req.id,
      decision: "approve",
      comment: "gates are green",
    }).then(
      (o) => o.status,
      (e: { code?: string }) => e.code,
    );
    // The VEX is stored and shown, marked as not counted; the high finding stays and the findings gate still fails.
    expect(stored).toEqual([{ uploaderId: null, signatureStatus: "unsigned", notCounted: REGISTRY_EVIDENCE_NOT_COUNTED }]);
    expect(advisoryFinding).toBe("affected");
    expect({ storedVex: stored, advisoryFinding, outcome }, "the refused VEX, pushed as a referrer, cleared the finding and the stage was approved").toEqual({
      storedVex: expect.anything(),
      advisoryFinding: expect.any(String),
      outcome: "POLICY_VIOLATION",
    });
  });

  it("a VEX signed by a key trusted as scanner counts when found in the registry", async () => {
    const { repo, img, image } = await scannedImage();
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: ADVISORY, origin: "registry-evidence-rules" });
    expect(await advisoryStatus(image.id)).toBe("affected");
    await attachReferrer(repo, img.digest as Digest, img.manifest.length, signedVex(repo, img.digest, scannerKey));
    await syncRegistry({ actor: system, registry: "default" });
    expect(
      await db.evidenceDocument.findMany({ where: { imageId: image.id, kind: "vex" }, select: { signatureStatus: true, signedBy: true, notCounted: true } }),
    ).toEqual([{ signatureStatus: "signed", signedBy: "regev-scanner", notCounted: null }]);
    expect(await advisoryStatus(image.id)).toBe("not_affected");
  });

  it("changing the rules counts unsigned registry evidence again, and re-matches the advisories it touches", async () => {
    const { repo, img, image } = await scannedImage();
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: ADVISORY, origin: "registry-evidence-rules" });
    await attachReferrer(repo, img.digest as Digest, img.manifest.length, vex);
    await syncRegistry({ actor: system, registry: "default" });
    const vexRow = () => db.evidenceDocument.findFirstOrThrow({ where: { imageId: image.id, kind: "vex" }, select: { notCounted: true } });
    expect(await vexRow()).toEqual({ notCounted: REGISTRY_EVIDENCE_NOT_COUNTED });
    expect(await advisoryStatus(image.id)).toBe("affected");
    const admin = await userActor("admin@example.com");
    // No rule covers regev/** any more: the registry VEX counts as any developer's upload would.
    await setEvidenceUploaders({ actor: admin, rules: [{ pattern: "elsewhere/**", group: "ci" }] });
    expect(await vexRow()).toEqual({ notCounted: null });
    expect(await advisoryStatus(image.id)).toBe("not_affected");
    expect(await db.reevaluationRequest.count({ where: { imageId: image.id, trigger: "evidence" } })).toBeGreaterThan(0);
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "evidence.uploaders.set" }, orderBy: { seq: "desc" } });
    expect((audit.detail as { registryDocumentsRecounted?: number }).registryDocumentsRecounted).toBeGreaterThanOrEqual(1);
    // The rule is back: the VEX no longer counts and the finding is affected again.
    await setEvidenceUploaders({ actor: admin, rules: [{ pattern: "regev/**", group: "ci" }] });
    expect(await vexRow()).toEqual({ notCounted: REGISTRY_EVIDENCE_NOT_COUNTED });
    expect(await advisoryStatus(image.id)).toBe("affected");
  });
});
