// Four eyes on evidence: an unsigned scan, VEX, SBOM or provenance document is only what its uploader says. Uploaded by
// the request's requester or one of its approvers, it counts for no gate of that request (at review, on the request
// page, in "my images", at re-evaluation); signed by a key trusted as scanner, or uploaded by another account, it does.
import { generateKeyPairSync, randomUUID, sign, type KeyObject } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { lodashImage, LODASH_ADVISORY, LODASH_CVE } from "../../../scripts/test-harness/lodash-image";
import { graceEnds, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { importAdvisories } from "../advisories/import-advisories";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { withdrawEvidence } from "../evidence/withdraw-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { addTrustedKey } from "../keys/add-trusted-key";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { revokeRegressedApprovals } from "../reevaluation/revoke-regressed-approvals";
import { upsertStage } from "../stages/upsert-stage";
import { createUser } from "../users/create-user";
import { evaluateGates, parseGateConfig } from "../../policy/gates";
import { gatherGateFacts } from "./gather-gate-facts";
import { getRequest } from "./get-request";
import { listMyImages } from "./list-my-images";
import { requestPromotion } from "./request-promotion";
import { pushVerificationSummary } from "../approvals/push-verification-summary";
import { reviewRequest } from "./review-request";

const system: Actor = { kind: "system", label: "requester-evidence" };
const INTOTO = "application/vnd.in-toto+json";
const STAGE = "build";
let client: RegistryClient;
let scannerKey: KeyObject;

async function newImage(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${randomUUID()}` }] });
  await pushImage(client, repo, img, ["v1"]);
  await syncRegistry({ actor: system, repositories: [repo] });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { imageId: row.id, digest: img.digest as Digest, repo };
}

/** A clean Trivy report: it names no digest, so the same bytes may be uploaded for any image. */
const CLEAN_SCAN = Buffer.from(JSON.stringify({ SchemaVersion: 2, ArtifactName: "app:latest", ArtifactType: "container_image", Results: [] }));

/** The same clean report as a cosign vuln attestation about `digest`, in a DSSE envelope signed by the scanner key. */
function signedCleanScan(repo: string, digest: string): Buffer {
  const payload = Buffer.from(
    JSON.stringify({
      _type: "https://in-toto.io/Statement/v1",
      subject: [{ name: repo, digest: { sha256: digest.slice("sha256:".length) } }],
      predicateType: "https://cosign.sigstore.dev/attestation/vuln/v1",
      predicate: {
        invocation: { uri: `https://ci.example.com/run/${randomUUID()}` },
        scanner: { uri: "pkg:github/aquasecurity/trivy@0.50.0", version: "0.50.0", result: JSON.parse(CLEAN_SCAN.toString("utf8")) as unknown },
        metadata: { scanFinishedOn: new Date().toISOString() },
      },
    }),
  );
  const pae = Buffer.concat([Buffer.from(`DSSEv1 ${INTOTO.length} ${INTOTO} ${payload.length} `), payload]);
  const sig = sign("sha256", pae, { key: scannerKey, dsaEncoding: "der" }).toString("base64");
  return Buffer.from(JSON.stringify({ payloadType: INTOTO, payload: payload.toString("base64"), signatures: [{ keyid: "", sig }] }));
}

/** A CycloneDX VEX: the lodash CVE does not affect this lodash (a fresh serial number each time: a new document). */
const vex = () =>
  Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      serialNumber: `urn:uuid:${randomUUID()}`,
      version: 1,
      components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20", "bom-ref": "l" }],
      vulnerabilities: [{ id: LODASH_CVE, analysis: { state: "not_affected", justification: "code_not_reachable" }, affects: [{ ref: "l" }] }],
    }),
  );

const upload = async (who: string, img: { imageId: string }, bytes: Buffer) =>
  (await ingestEvidence({ actor: await userActor(who), imageId: img.imageId, bytes, source: "upload" })).documents[0]!;

const request = async (img: { repo: string; digest: Digest }) =>
  (await requestPromotion({ actor: await userActor("dev@example.com"), repository: img.repo, digest: img.digest, stage: STAGE, note: "ship it" })).id;

const approve = async (who: string, requestId: string) =>
  reviewRequest({ actor: await userActor(who), requestId, decision: "approve", comment: "ok", later: () => {} });

const advisoryStatus = async (imageId: string) =>
  (await db.finding.findFirstOrThrow({ where: { imageId, documentId: null, aliases: { has: LODASH_CVE } }, select: { status: true } })).status;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages([STAGE]);
  // The CI account uploads evidence for the builds; it neither requests nor reviews.
  await createUser({ actor: system, email: "ci@example.com", name: "CI Uploader", role: "developer", password: "ci-demo-pass-123" });
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  scannerKey = privateKey;
  await addTrustedKey({
    actor: system,
    name: "eyes-scanner",
    pem: publicKey.export({ format: "pem", type: "spki" }).toString(),
    role: "scanner",
    scope: ["eyes/**"],
  });
  await upsertStage({
    actor: system,
    name: STAGE,
    settings: {
      requiredApprovals: 1,
      reviewerGroups: ["security"],
      gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } },
      onRegression: "revoke-after",
      regressionGraceHours: 1,
    },
  });
  // lodash 4.17.20 is vulnerable (high) from now on, on every image whose SBOM lists it.
  await importAdvisories({ actor: system, bytes: LODASH_ADVISORY, origin: "requester-evidence" });
});

afterAll(async () => {
  await disconnectDb();
});

describe("four eyes on evidence: the requester's own unsigned evidence", () => {
  it("a requester's own unsigned clean scan does not satisfy the scan gate, and every view says why", async () => {
    const img = await newImage(`eyes/own-scan-${randomUUID().slice(0, 8)}`);
    const doc = await upload("dev@example.com", img, CLEAN_SCAN);
    expect(doc.signatureStatus).toBe("unsigned");
    const requestId = await request(img);
    const why = `scan ${doc.contentDigest.slice(0, 19)} not counted: uploaded by dev@example.com, who requested this promotion (four eyes`;
    await expect(approve("alice@example.com", requestId)).rejects.toMatchObject({
      code: "POLICY_VIOLATION",
      message: expect.stringContaining(why),
    });
    expect(await db.review.count({ where: { requestId } })).toBe(0);
    // The request page (API JSON) and "my images" judge it the same way and say the same.
    const page = await getRequest({ actor: await userActor("alice@example.com"), requestId });
    expect(page.gates).toMatchObject([{ gate: "findings", passed: false, detail: expect.stringContaining(why) }]);
    expect(page.gates[0]!.detail).toMatch(/^no vulnerability scan has been uploaded/);
    const mine = (await listMyImages({ actor: await userActor("dev@example.com") })).find((i) => i.digest === img.digest)!;
    expect(mine.blockers.join("\n")).toContain(why);
  });

  it("the same scan uploaded by another account counts, and the verification summary names it, not the requester's own document", async () => {
    const img = await newImage(`eyes/ci-scan-${randomUUID().slice(0, 8)}`);
    const doc = await upload("ci@example.com", img, CLEAN_SCAN);
    expect(doc.signatureStatus).toBe("unsigned");
    const own = await upload("dev@example.com", img, Buffer.from(JSON.stringify({ ...JSON.parse(CLEAN_SCAN.toString("utf8")), ArtifactName: "app:dev" })));
    const out = await approve("alice@example.com", await request(img));
    expect(out.status).toBe("signed");
    // The signed SLSA verification summary lists the evidence the gates could rely on: the requester's own scan is not among it.
    await pushVerificationSummary({ approvalId: out.approvalId! });
    const row = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: out.approvalId! } });
    const env = JSON.parse(Buffer.from(row.envelope).toString("utf8")) as { payload: string };
    const statement = JSON.parse(Buffer.from(env.payload, "base64").toString("utf8")) as { predicate: { inputAttestations: { digest: { sha256: string } }[] } };
    const named = statement.predicate.inputAttestations.map((a) => `sha256:${a.digest.sha256}`);
    expect(named).toContain(doc.contentDigest);
    expect(named).not.toContain(own.contentDigest);
  });

  it("the findings a requester's own scan reports still count: they can only make the gate stricter", async () => {
    const img = await newImage(`eyes/own-findings-${randomUUID().slice(0, 8)}`);
    await upload("ci@example.com", img, CLEAN_SCAN);
    const report = {
      SchemaVersion: 2,
      ArtifactName: "app:latest",
      ArtifactType: "container_image",
      Results: [
        {
          Target: "app",
          Class: "os-pkgs",
          Type: "debian",
          Vulnerabilities: [{ VulnerabilityID: "CVE-2024-0001", PkgName: "openssl", InstalledVersion: "3.0.0", Severity: "CRITICAL", Status: "affected" }],
        },
      ],
    };
    await upload("dev@example.com", img, Buffer.from(JSON.stringify(report)));
    await expect(approve("alice@example.com", await request(img))).rejects.toMatchObject({
      code: "POLICY_VIOLATION",
      message: expect.stringContaining("CVE-2024-0001"),
    });
  });

  it("the same scan signed by a key trusted as scanner counts, even when the requester uploaded it", async () => {
    const img = await newImage(`eyes/signed-scan-${randomUUID().slice(0, 8)}`);
    const doc = await upload("dev@example.com", img, signedCleanScan(img.repo, img.digest));
    expect({ kind: doc.kind, signatureStatus: doc.signatureStatus }).toEqual({ kind: "scan", signatureStatus: "signed" });
    const out = await approve("alice@example.com", await request(img));
    expect(out.status).toBe("signed");
  });

  it("the requester's VEX does not suppress a finding for their request; another account's VEX does", async () => {
    const img = await lodashImage(client, await userActor("ci@example.com"), `eyes/own-vex-${randomUUID().slice(0, 8)}`);
    expect(await advisoryStatus(img.imageId)).toBe("affected");
    const own = await upload("dev@example.com", img, vex());
    expect(own.kind).toBe("vex");
    // Stored for the image as a whole (the image page shows it), whoever wrote it...
    expect(await advisoryStatus(img.imageId)).toBe("not_affected");
    const requestId = await request(img);
    // ...but it does not count for the request of the account that wrote it.
    await expect(approve("alice@example.com", requestId)).rejects.toMatchObject({
      code: "POLICY_VIOLATION",
      message: expect.stringMatching(
        new RegExp(
          `high findings 1 > 0 allowed: .*${LODASH_CVE}.*vex ${own.contentDigest.slice(0, 19)} not counted: uploaded by dev@example\\.com, who requested`,
        ),
      ),
    });
    // Nor does the same statement uploaded again by the requester, in a new document.
    await upload("dev@example.com", img, vex());
    await expect(approve("alice@example.com", requestId)).rejects.toMatchObject({ code: "POLICY_VIOLATION" });
    // carol (neither requester nor approver) vouches for it: it counts.
    await upload("carol@example.com", img, vex());
    expect((await approve("alice@example.com", requestId)).status).toBe("signed");
  });
});

describe("four eyes on evidence: every kind, every gate", () => {
  it("the requester's own unsigned SBOM and provenance count neither as SBOM, provenance nor for signedEvidence; for anyone else they count", async () => {
    const img = await newImage(`eyes/kinds-${randomUUID().slice(0, 8)}`);
    const sbom = Buffer.from(
      JSON.stringify({
        bomFormat: "CycloneDX",
        specVersion: "1.5",
        version: 1,
        serialNumber: `urn:uuid:${randomUUID()}`,
        components: [{ type: "library", name: "left-pad", version: "1.3.0" }],
      }),
    );
    const provenance = Buffer.from(
      JSON.stringify({
        _type: "https://in-toto.io/Statement/v1",
        subject: [{ name: img.repo, digest: { sha256: img.digest.slice("sha256:".length) } }],
        predicateType: "https://slsa.dev/provenance/v1",
        predicate: {
          buildDefinition: { buildType: "https://example.com/build/v1", externalParameters: {} },
          runDetails: { builder: { id: "https://ci.example.com/builder@v1" } },
        },
      }),
    );
    await upload("dev@example.com", img, sbom);
    await upload("dev@example.com", img, provenance);
    const stageId = (await db.stage.findUniqueOrThrow({ where: { name: STAGE } })).id;
    const dev = await userActor("dev@example.com");
    const cfg = parseGateConfig({ sbom: true, provenance: { builderIds: ["https://ci.example.com/**"] }, signedEvidence: true });
    const forDev = await gatherGateFacts(db, { imageId: img.imageId, stageId, requesterId: dev.id });
    expect({ sboms: forDev.sbomCount, provenance: forDev.provenance.length, evidence: forDev.evidence.length }).toEqual({
      sboms: 0,
      provenance: 0,
      evidence: 0,
    });
    expect(forDev.discountedEvidence!.map((d) => d.kind).sort()).toEqual(["provenance", "sbom"]);
    const gates = evaluateGates(cfg, forDev);
    expect(gates.map((g) => [g.gate, g.passed])).toEqual([
      ["sbom", false],
      ["provenance", false],
      ["signedEvidence", false],
    ]);
    expect(gates[0]!.detail).toMatch(/^no SBOM .*\(sbom sha256:[0-9a-f]{12} not counted: uploaded by dev@example\.com, who requested this promotion/);
    expect(gates[0]!.detail).not.toContain("provenance sha256:");
    expect(gates[1]!.detail).toContain("provenance sha256:");
    // The same documents count for a request by someone else (and for no request at all).
    const forCarol = await gatherGateFacts(db, { imageId: img.imageId, stageId, requesterId: (await userActor("carol@example.com")).id });
    expect({ sboms: forCarol.sbomCount, provenance: forCarol.provenance.length, evidence: forCarol.evidence.length }).toEqual({
      sboms: 1,
      provenance: 1,
      evidence: 2,
    });
    expect(forCarol.discountedEvidence).toEqual([]);
    expect(evaluateGates(parseGateConfig({ sbom: true, provenance: { builderIds: ["https://ci.example.com/**"] } }), forCarol).every((g) => g.passed)).toBe(
      true,
    );
  });
});

describe("four eyes on evidence: the approvers' own unsigned evidence", () => {
  it("an approver's own unsigned upload does not count at approval time; another reviewer may approve on it", async () => {
    const img = await newImage(`eyes/approver-scan-${randomUUID().slice(0, 8)}`);
    await upload("alice@example.com", img, CLEAN_SCAN);
    const requestId = await request(img);
    await expect(approve("alice@example.com", requestId)).rejects.toMatchObject({
      code: "POLICY_VIOLATION",
      message: expect.stringContaining("uploaded by alice@example.com, who approves this promotion (four eyes"),
    });
    expect(await db.review.count({ where: { requestId } })).toBe(0);
    expect((await approve("bob@example.com", requestId)).status).toBe("signed");
  });

  it("re-evaluation agrees: once the VEX that counted is withdrawn, the requester's own VEX does not keep the approval standing", async () => {
    const img = await lodashImage(client, await userActor("ci@example.com"), `eyes/reeval-${randomUUID().slice(0, 8)}`);
    await upload("dev@example.com", img, vex());
    const carols = await upload("carol@example.com", img, vex());
    const approved = await approve("alice@example.com", await request(img));
    expect(approved.status).toBe("signed");
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } })).toBe(0);
    // carol's VEX is withdrawn; the developer's still applies to the image as stored (matching counts it)...
    await withdrawEvidence({ actor: await userActor("admin@example.com"), documentId: carols.id, reason: "not reviewed by security" });
    expect(await advisoryStatus(img.imageId)).toBe("not_affected");
    // ...but re-evaluation judges the approval as the review did: the requester's VEX suppresses nothing for it.
    await reevaluateApprovals();
    const risk = await db.stageRisk.findFirst({ where: { imageId: img.imageId } });
    expect(risk, "the requester's own VEX kept the approval standing").not.toBeNull();
    expect(risk!.reasons.join(" ")).toMatch(/high findings 1 > 0 allowed: .*uploaded by dev@example\.com, who requested this promotion/);
    // revoke-after judges it the same way when the grace period is over: nothing spares it, the approval is revoked.
    await graceEnds(img.imageId);
    await revokeRegressedApprovals({ now: new Date() });
    expect((await db.approval.findUniqueOrThrow({ where: { id: approved.approvalId! } })).revokedAt).not.toBeNull();
  });

  it("an approver's own unsigned VEX uploaded after the approval does not lift the at-risk stage", async () => {
    const img = await lodashImage(client, await userActor("ci@example.com"), `eyes/reeval-approver-${randomUUID().slice(0, 8)}`);
    const carols = await upload("carol@example.com", img, vex());
    expect((await approve("bob@example.com", await request(img))).status).toBe("signed");
    await withdrawEvidence({ actor: await userActor("admin@example.com"), documentId: carols.id, reason: "not reviewed by security" });
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } })).toBe(1);
    await upload("bob@example.com", img, vex());
    expect(await advisoryStatus(img.imageId)).toBe("not_affected");
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId: img.imageId } }), "the approver's own VEX lifted the at-risk stage").toBe(1);
  });
});
