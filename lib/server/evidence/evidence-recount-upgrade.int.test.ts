// Upgrading to evidence_documents.not_counted (migration 20261208150000). Registry evidence stored before it has
// not_counted NULL whatever the rules say: the migration cannot match the rules' globs in SQL. Review 14 left a
// README caveat ("save the rules once after upgrading"): until an admin did, a developer's unsigned VEX pushed as a
// referrer before the upgrade kept clearing findings. Now the migration leaves a marker row and the first replica
// to see it (start-up or the scheduler tick) recounts once, under the same lock as a rules change.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { attachReferrer } from "../../../scripts/test-harness/attach-referrer";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { importAdvisories } from "../advisories/import-advisories";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { schedulerTick } from "../jobs/workers";
import { ingestEvidence } from "./ingest-evidence";
import { REGISTRY_EVIDENCE_NOT_COUNTED } from "./may-attach-evidence";
import { runPendingEvidenceRecount } from "./run-pending-evidence-recount";

const ADVISORY = readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json");
const system: Actor = { kind: "system", label: "evidence-recount-upgrade" };
let client: RegistryClient;

const sbom = Buffer.from(
  JSON.stringify({
    bomFormat: "CycloneDX",
    specVersion: "1.4",
    version: 1,
    components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20" }],
  }),
);
// The developer's own word: the CVE does not affect this lodash. Nobody trusted signed it.
const vex = Buffer.from(
  JSON.stringify({
    bomFormat: "CycloneDX",
    specVersion: "1.4",
    version: 1,
    components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20", "bom-ref": "l" }],
    vulnerabilities: [{ id: "CVE-2021-23337", analysis: { state: "not_affected", justification: "code_not_reachable" }, affects: [{ ref: "l" }] }],
  }),
);

const advisoryStatus = async (imageId: string) =>
  (await db.finding.findFirstOrThrow({ where: { imageId, documentId: null, vulnId: { contains: "GHSA" } }, select: { status: true } })).status;

/**
 * A covered repository's image as a database upgraded from before migration 20261208150000 holds it: CI's SBOM, the
 * advisory's high finding, and the developer's unsigned referrer VEX stored with not_counted NULL, which cleared it.
 */
async function imageWithPreUpgradeVex() {
  const repo = `recount/app-${randomUUID().slice(0, 8)}`;
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${randomUUID()}` }] });
  await pushImage(client, repo, img, ["v1"]);
  await syncRegistry({ actor: system, registry: "default" });
  const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  await ingestEvidence({ actor: await userActor("carol@example.com"), imageId: image.id, bytes: sbom, source: "upload" });
  await importAdvisories({ actor: await userActor("alice@example.com"), bytes: ADVISORY, origin: "evidence-recount-upgrade" });
  await attachReferrer(client, repo, img.digest as Digest, img.manifest.length, vex);
  await syncRegistry({ actor: system, registry: "default" });
  const doc = await db.evidenceDocument.findFirstOrThrow({ where: { imageId: image.id, kind: "vex" }, select: { id: true } });
  // What the pre-upgrade code stored: no not_counted column, so NULL after the migration; the VEX applied.
  await db.$transaction(async (tx) => {
    await tx.evidenceDocument.update({ where: { id: doc.id }, data: { notCounted: null } });
    await rematchImageAdvisories(tx, { imageId: image.id });
  });
  expect(await advisoryStatus(image.id)).toBe("not_affected");
  return { image, vexId: doc.id };
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "ci", members: ["carol@example.com"] });
  // A rule saved before the upgrade: written as it was then, not through setEvidenceUploaders (which recounts).
  const ci = await db.group.findUniqueOrThrow({ where: { name: "ci" } });
  await db.evidenceUploaderRule.create({ data: { pattern: "recount/**", groupId: ci.id, createdBy: "admin@example.com" } });
});

afterAll(async () => {
  await disconnectDb();
});

describe("registry evidence stored before migration 20261208150000", () => {
  it("is judged by the uploader rules at the first scheduler tick after the upgrade, with no admin action", async () => {
    const { image, vexId } = await imageWithPreUpgradeVex();
    let tickError: unknown = null;
    await schedulerTick().catch((e: unknown) => (tickError = e));
    expect(tickError, `schedulerTick threw: ${(tickError as Error | null)?.message}`).toBeNull();

    const row = await db.evidenceDocument.findUniqueOrThrow({ where: { id: vexId }, select: { notCounted: true } });
    expect({ notCounted: row.notCounted, advisory: await advisoryStatus(image.id) }, "the pre-upgrade unsigned VEX still counts").toEqual({
      notCounted: REGISTRY_EVIDENCE_NOT_COUNTED,
      advisory: "affected",
    });
    // The recount is audited, and it is owed no more.
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "evidence.recounted" } });
    expect(audit.detail).toMatchObject({ rules: ["recount/**"], registryDocumentsRecounted: 1 });
    expect(await db.evidenceRecountPending.count()).toBe(0);
  });

  it("runs once however many replicas ask at once, and not again until owed", async () => {
    const { image, vexId } = await imageWithPreUpgradeVex();
    // Owed again (as after the migration); three replicas start together.
    await db.evidenceRecountPending.create({ data: { reason: "test: a database upgraded again" } });
    const before = await db.auditEvent.count({ where: { action: "evidence.recounted" } });
    const runs = await Promise.all([runPendingEvidenceRecount(), runPendingEvidenceRecount(), runPendingEvidenceRecount()]);
    expect(runs.filter((r) => r.ran)).toHaveLength(1);
    expect(runs.find((r) => r.ran)).toMatchObject({ recounted: 1 });
    // The image's stages are to be judged again (the tick's re-evaluation step takes it from here).
    expect(await db.reevaluationRequest.count({ where: { imageId: image.id, trigger: "evidence" } })).toBeGreaterThan(0);
    expect(await db.auditEvent.count({ where: { action: "evidence.recounted" } })).toBe(before + 1);
    expect(await db.evidenceDocument.findUniqueOrThrow({ where: { id: vexId }, select: { notCounted: true } })).toEqual({
      notCounted: REGISTRY_EVIDENCE_NOT_COUNTED,
    });
    // Not owed: a later tick neither recounts nor audits.
    await db.evidenceDocument.update({ where: { id: vexId }, data: { notCounted: null } });
    expect(await runPendingEvidenceRecount()).toEqual({ ran: false });
    expect(await db.evidenceDocument.findUniqueOrThrow({ where: { id: vexId }, select: { notCounted: true } })).toEqual({ notCounted: null });
  });

  it("saving the rules does the recount and clears the marker too", async () => {
    await db.evidenceRecountPending.create({ data: { reason: "test: rules saved first" } });
    const { setEvidenceUploaders } = await import("./set-evidence-uploaders");
    await setEvidenceUploaders({ actor: await userActor("admin@example.com"), rules: [{ pattern: "recount/**", group: "ci" }] });
    expect(await db.evidenceRecountPending.count()).toBe(0);
    expect(await runPendingEvidenceRecount()).toEqual({ ran: false });
  });
});
