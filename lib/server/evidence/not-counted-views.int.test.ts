// Evidence that does not count (unsigned registry evidence on a repository covered by evidence-uploader rules,
// evidence_documents.not_counted) changes no gate; it must not make an image look scanned or described elsewhere
// either. The rule per view (README, "Evidence trust"):
// - what asserts "this image is scanned / has this evidence" leaves it out: the image list's scan state, the image's
//   components and licences, the VSA's input attestations;
// - what lists every document keeps it, marked: the evidence page's documents and the evidence pack's documents;
// - the fleet package search still finds it (a bulk revocation fed by the search may include it: revoking more is
//   safe) but marks a hit found only in such evidence.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { attachReferrer } from "../../../scripts/test-harness/attach-referrer";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { upsertGroup } from "../groups/upsert-group";
import { listImages, parseListImagesQuery } from "../images/list-images";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { buildEvidencePack } from "./build-evidence-pack";
import { getImageEvidence, parseEvidenceQuery } from "./get-image-evidence";
import { ingestEvidence } from "./ingest-evidence";
import { REGISTRY_EVIDENCE_NOT_COUNTED } from "./may-attach-evidence";
import { searchPackages } from "./search-packages";
import { setEvidenceUploaders } from "./set-evidence-uploaders";

const system: Actor = { kind: "system", label: "not-counted-views" };
let client: RegistryClient;
const pkg = `ncvpkg${randomUUID().slice(0, 8)}`;

const cdx = (extra: Record<string, unknown>) =>
  Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: [{ type: "library", name: pkg, version: "1.2.3", purl: `pkg:npm/${pkg}@1.2.3`, licenses: [{ license: { id: "MIT" } }], "bom-ref": "p" }],
      ...extra,
    }),
  );
// The developer's own SBOM, and a VEX saying a CVE does not apply: both pushed next to the image, unsigned.
const devSbom = cdx({});
const devVex = cdx({ vulnerabilities: [{ id: "CVE-2099-0001", analysis: { state: "not_affected" }, affects: [{ ref: "p" }] }] });

/** An image of a covered repository with the developer's unsigned SBOM and VEX as referrers, synced. */
async function imageWithUncountedEvidence() {
  const repo = `ncv/app-${randomUUID().slice(0, 8)}`;
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${randomUUID()}` }] });
  await pushImage(client, repo, img, ["v1"]);
  await attachReferrer(client, repo, img.digest as Digest, img.manifest.length, [devSbom, devVex]);
  await syncRegistry({ actor: system, registry: "default" });
  const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  const docs = await db.evidenceDocument.findMany({ where: { imageId: image.id }, select: { kind: true, notCounted: true, contentDigest: true } });
  expect(docs.map((d) => [d.kind, d.notCounted]).sort()).toEqual([
    ["sbom", REGISTRY_EVIDENCE_NOT_COUNTED],
    ["vex", REGISTRY_EVIDENCE_NOT_COUNTED],
  ]);
  return { repo, img, image, docs };
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "ci", members: ["carol@example.com"] });
  await setEvidenceUploaders({ actor: await userActor("admin@example.com"), rules: [{ pattern: "ncv/**", group: "ci" }] });
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("views of evidence that does not count", () => {
  it("the image list does not show an image as scanned on the strength of a not-counted VEX", async () => {
    const { repo } = await imageWithUncountedEvidence();
    const list = await listImages({ actor: system, query: parseListImagesQuery({ repository: repo }) });
    expect(list.items).toHaveLength(1);
    // null: "no scan recorded", never "0 findings" (which a developer's own VEX would otherwise claim).
    expect(list.items[0]!.severities).toBeNull();
  });

  it("the image's components and licences leave out a not-counted SBOM; its document stays listed, marked", async () => {
    const { image } = await imageWithUncountedEvidence();
    const ev = await getImageEvidence({ actor: system, imageId: image.id, query: parseEvidenceQuery({}) });
    expect({ components: ev.componentTotal, licenses: ev.licenses }).toEqual({ components: 0, licenses: [] });
    expect(ev.documents.map((d) => d.notCounted)).toEqual([REGISTRY_EVIDENCE_NOT_COUNTED, REGISTRY_EVIDENCE_NOT_COUNTED]);
    // CI's upload counts: its component and licence show.
    await ingestEvidence({ actor: await userActor("carol@example.com"), imageId: image.id, bytes: cdx({}), source: "upload" });
    const after = await getImageEvidence({ actor: system, imageId: image.id, query: parseEvidenceQuery({}) });
    expect({ components: after.componentTotal, licenses: after.licenses }).toEqual({ components: 1, licenses: [{ license: "MIT", count: 1 }] });
  });

  it("the package search finds a package known only from not-counted evidence, marked, and unmarked once counted evidence has it", async () => {
    const { repo, image } = await imageWithUncountedEvidence();
    const hit = async () => (await searchPackages({ actor: system, q: `${pkg} >= 1.0.0` })).results.find((r) => r.repository === repo);
    expect(await hit()).toMatchObject({ versions: ["1.2.3"], notCounted: true });
    await ingestEvidence({ actor: await userActor("carol@example.com"), imageId: image.id, bytes: cdx({}), source: "upload" });
    expect(await hit()).toMatchObject({ versions: ["1.2.3"], notCounted: false });
  });

  it("the VSA does not name not-counted evidence among what the gates could rely on; the evidence pack marks it", async () => {
    const { repo, img, docs } = await imageWithUncountedEvidence();
    const approval = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: repo,
      digest: img.digest as Digest,
      stage: "build",
      comment: "ok",
    });
    const row = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } });
    const env = JSON.parse(Buffer.from(row.envelope).toString("utf8")) as { payload: string };
    const statement = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8")) as { predicate: { inputAttestations: { digest: { sha256: string } }[] } };
    const named = statement.predicate.inputAttestations.map((a) => `sha256:${a.digest.sha256}`);
    expect(named.filter((d) => docs.some((x) => x.contentDigest === d))).toEqual([]);

    const pack = await buildEvidencePack({ actor: await userActor("admin@example.com"), repository: repo, digest: img.digest as Digest });
    const packed = pack.evidence.documents.filter((d) => docs.some((x) => x.contentDigest === d.contentDigest));
    expect(packed.map((d) => ({ counted: d.counted, notCounted: d.notCounted }))).toEqual([
      { counted: false, notCounted: REGISTRY_EVIDENCE_NOT_COUNTED },
      { counted: false, notCounted: REGISTRY_EVIDENCE_NOT_COUNTED },
    ]);
  });
});
