// Security review 14, finding: evidence-uploader rules bind API uploads only. Whoever can push to the repository (the
// developer who built the image, by definition) attaches the same document as an OCI referrer, and the sync stores it
// (uploader null, so it also escapes the "build's author" four-eyes rule) and every gate but signedEvidence counts it.
// Here an unsigned VEX the developer may not upload clears a known high advisory finding, and the stage is approved.
// The test asserts that the refused document does not count; it fails on the current code.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { importAdvisories } from "../advisories/import-advisories";
import { ingestEvidence } from "./ingest-evidence";
import { setEvidenceUploaders } from "./set-evidence-uploaders";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { requestPromotion } from "../promotions/request-promotion";
import { reviewRequest } from "../promotions/review-request";
import { upsertStage } from "../stages/upsert-stage";

const ADVISORY = readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json");
const CVE = "CVE-2021-23337";
const system: Actor = { kind: "system", label: "review14" };
let client: RegistryClient;

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

/** Attaches `doc` to `subject` as an OCI 1.1 referrer, with the referrers-tag index a client writes on Distribution 2.8. */
async function attachReferrer(repo: string, subject: Digest, subjectSize: number, doc: Buffer) {
  const empty = Buffer.from("{}");
  await client.putBlob(repo, doc);
  await client.putBlob(repo, empty);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      artifactType: "application/vnd.cyclonedx+json",
      config: { mediaType: "application/vnd.oci.empty.v1+json", digest: sha256Digest(empty), size: 2 },
      layers: [{ mediaType: "application/vnd.cyclonedx+json", digest: sha256Digest(doc), size: doc.length }],
      subject: { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: subject, size: subjectSize },
    }),
  );
  const md = sha256Digest(manifest);
  await client.putManifest(repo, md, manifest, "application/vnd.oci.image.manifest.v1+json");
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: md, size: manifest.length, artifactType: "application/vnd.cyclonedx+json" },
      ],
    }),
  );
  await client.putManifest(repo, subject.replace(":", "-"), index, "application/vnd.oci.image.index.v1+json");
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertGroup({ actor: system, name: "ci", members: ["carol@example.com"] });
  // Only the ci group attaches evidence to r14reg/**: the security team's answer to "developers grade their own homework".
  await setEvidenceUploaders({ actor: await userActor("admin@example.com"), rules: [{ pattern: "r14reg/**", group: "ci" }] });
  await upsertStage({
    actor: system,
    name: "test",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } } },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("evidence-uploader rules and the registry (review 14)", () => {
  it("a VEX the developer may not upload does not clear a finding when pushed as a referrer instead", async () => {
    const repo = `r14reg/app-${randomUUID().slice(0, 8)}`;
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${Date.now()}` }] });
    await pushImage(client, repo, img, ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
    // CI (the ci group) attaches the scan and the SBOM; then the advisory shows lodash 4.17.20 is vulnerable (high).
    const carol = await userActor("carol@example.com");
    await ingestEvidence({ actor: carol, imageId: image.id, bytes: cleanScan, source: "upload" });
    await ingestEvidence({ actor: carol, imageId: image.id, bytes: sbom, source: "upload" });
    await importAdvisories({ actor: await userActor("alice@example.com"), bytes: ADVISORY, origin: "review14" });
    expect(await db.finding.count({ where: { imageId: image.id, vulnId: { contains: "GHSA" }, status: "affected" } })).toBeGreaterThan(0);

    // The rule holds for the API: the developer may not attach the VEX.
    const dev = await userActor("dev@example.com");
    await expect(ingestEvidence({ actor: dev, imageId: image.id, bytes: vex, source: "upload" })).rejects.toMatchObject({ code: "FORBIDDEN" });

    // The developer pushes it next to the image instead (they have push access: they pushed the image) and asks.
    await attachReferrer(repo, img.digest as Digest, img.manifest.length, vex);
    await syncRegistry({ actor: system, registry: "default" });
    const stored = await db.evidenceDocument.findMany({ where: { imageId: image.id, kind: "vex" }, select: { uploaderId: true, signatureStatus: true } });
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
    // Expected: the findings gate still fails on the high finding (POLICY_VIOLATION). Actual: the unsigned VEX, which
    // the rule refused through the API, cleared it and the stage was signed.
    expect({ storedVex: stored, advisoryFinding, outcome }, "the refused VEX, pushed as a referrer, cleared the finding and the stage was approved").toEqual({
      storedVex: expect.anything(),
      advisoryFinding: expect.any(String),
      outcome: "POLICY_VIOLATION",
    });
  });
});
