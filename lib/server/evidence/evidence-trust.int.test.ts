import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { pushDemoImages, seedStages, seedUsers } from "../../../scripts/seed";
import { graceEnds, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { evaluateGates, parseGateConfig } from "../../policy/gates";
import type { Actor } from "../actor";
import { upsertGroup } from "../groups/upsert-group";
import { findBaseImage } from "../images/find-base-image";
import { syncRegistry } from "../images/sync-registry";
import { addTrustedKey } from "../keys/add-trusted-key";
import { gatherGateFacts } from "../promotions/gather-gate-facts";
import { getRequest } from "../promotions/get-request";
import { requestPromotion } from "../promotions/request-promotion";
import { reviewRequest } from "../promotions/review-request";
import { upsertStage } from "../stages/upsert-stage";
import { grantWaiver } from "../waivers/grant-waiver";
import { getImageEvidence, parseEvidenceQuery } from "./get-image-evidence";
import { ingestEvidence } from "./ingest-evidence";
import { ingestEvidenceUpload } from "./ingest-evidence-upload";
import { listEvidenceUploaders } from "./list-evidence-uploaders";
import { setEvidenceUploaders } from "./set-evidence-uploaders";
import { withdrawEvidence } from "./withdraw-evidence";
import { evaluateImage } from "../admission/evaluate-image";
import { reevaluateApprovals } from "../reevaluation/reevaluate-approvals";
import { revokeRegressedApprovals } from "../reevaluation/revoke-regressed-approvals";
import { deleteTrustIdentity } from "../trust/delete-trust-identity";
import { updateTrustIdentity } from "../trust/update-trust-identity";

// Evidence trust, end to end through Postgres and a real registry: each statement judged on its own, signer roles,
// claimed scan times, who may upload, withdrawal, and four eyes on waivers whatever the order.

const system: Actor = { kind: "system", label: "evidence-trust-test" };
const TRIVY = readFileSync(join(__dirname, "../../evidence/testdata/trivy-alpine-3.10-schema2.json"));
const INTOTO = "application/vnd.in-toto+json";
const client = () => new RegistryClient({ url: process.env.REGISTRY_URL! });
let n = 0;

async function newImage(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "t.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client(), repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, repositories: [repo] });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { digest: img.digest, imageId: row.id, configDigest: row.configDigest! };
}

function pae(type: string, payload: Buffer) {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload]);
}

/** A DSSE envelope around an in-toto statement, signed by `key` (or unsigned). One line of JSON. */
function envelope(statement: object, key?: KeyObject): string {
  const payload = Buffer.from(JSON.stringify(statement));
  const sig = key ? sign("sha256", pae(INTOTO, payload), { key, dsaEncoding: "der" }).toString("base64") : "";
  return JSON.stringify({ payloadType: INTOTO, payload: payload.toString("base64"), signatures: [{ keyid: "", sig }] });
}

const subject = (name: string, digest: string) => [{ name, digest: { sha256: digest.slice("sha256:".length) } }];
const sbomStatement = (name: string, digest: string) => ({
  _type: "https://in-toto.io/Statement/v1",
  subject: subject(name, digest),
  predicateType: "https://cyclonedx.org/bom",
  predicate: { bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components: [{ type: "library", name: `lib-${++n}`, version: "1.0.0" }] },
});
const provenanceStatement = (name: string, digest: string, builder = "https://ci.example.com/builder@v1") => ({
  _type: "https://in-toto.io/Statement/v1",
  subject: subject(name, digest),
  predicateType: "https://slsa.dev/provenance/v1",
  predicate: { buildDefinition: { buildType: "https://example.com/build/v1", externalParameters: { n: ++n } }, runDetails: { builder: { id: builder } } },
});

function keyPair(): { pem: string; key: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { pem: publicKey.export({ format: "pem", type: "spki" }).toString(), key: privateKey };
}

let publisher: { pem: string; key: KeyObject };
let scanner: { pem: string; key: KeyObject };
let builder: { pem: string; key: KeyObject };

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  publisher = keyPair();
  scanner = keyPair();
  builder = keyPair();
  await addTrustedKey({ actor: system, name: "trust-test-publisher", pem: publisher.pem, role: "publisher", scope: ["**"] });
  await addTrustedKey({ actor: system, name: "trust-test-scanner", pem: scanner.pem, role: "scanner", scope: ["trust/**"] });
  await addTrustedKey({
    actor: system,
    name: "trust-test-builder",
    pem: builder.pem,
    role: "builder",
    scope: ["trust/**"],
    builderIds: ["https://ci.example.com/**"],
  });
  await upsertGroup({ actor: system, name: "trust-reviewers", members: ["alice@example.com", "bob@example.com"] });
  await upsertGroup({ actor: system, name: "trust-waivers", members: ["carol@example.com", "bob@example.com"] });
});

afterAll(async () => {
  await disconnectDb();
});

describe("a JSON Lines upload", () => {
  it("holds at most 5,000 statements (refused whole, naming the count, with nothing stored); each stored one is audited", async () => {
    // Found by review: each line was stored, and audited, inside one transaction that took the audit chain's lock at
    // its first line, so 20,000 tiny lines held every audited write of every replica (sign-ins too) for a minute.
    const { digest, imageId } = await newImage("trust/many-lines");
    const dev = await userActor("dev@example.com");
    const line = (i: number) =>
      JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components: [{ type: "library", name: `c${i}`, version: "1" }] });
    const many = Array.from({ length: 5001 }, (_, i) => line(i)).join("\n");
    await expect(ingestEvidence({ actor: dev, imageId, bytes: Buffer.from(many), source: "upload" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringContaining("the document holds 5001 JSON lines; at most 5000 per upload"),
    });
    expect(await db.evidenceDocument.count({ where: { imageId } })).toBe(0);
    const before = await db.auditEvent.count({ where: { action: "evidence.upload", targetDigest: digest } });
    const r = await ingestEvidence({ actor: dev, imageId, bytes: Buffer.from([0, 1, 2].map(line).join("\n")), source: "upload" });
    expect(r.documents).toHaveLength(3);
    expect((await db.auditEvent.count({ where: { action: "evidence.upload", targetDigest: digest } })) - before).toBe(3);
  });
});

describe("each statement is judged and stored on its own", () => {
  it("a JSON Lines upload mixing a signed SBOM with an unsigned, forged provenance is stored line by line, and the gates see the forgery", async () => {
    const { digest, imageId } = await newImage("trust/mixed");
    const dev = await userActor("dev@example.com");
    const body = `${envelope(sbomStatement("trust/mixed", digest), scanner.key)}\n${JSON.stringify(provenanceStatement("trust/mixed", digest))}\n`;
    const r = await ingestEvidence({ actor: dev, imageId, bytes: Buffer.from(body), source: "upload" });
    expect(r.documents.map((d) => [d.kind, d.signatureStatus, d.signedBy])).toEqual([
      ["sbom", "signed", "trust-test-scanner"],
      ["provenance", "unsigned", null],
    ]);
    // Each line is kept byte for byte, under its own digest.
    const rows = await db.evidenceDocument.findMany({ where: { imageId }, orderBy: { kind: "desc" } });
    expect(rows.map((d) => Buffer.from(d.raw).toString("utf8")).sort()).toEqual(body.trim().split("\n").sort());
    const prov = await db.provenance.findFirstOrThrow({ where: { imageId }, include: { document: true } });
    expect(prov.document.signatureStatus).toBe("unsigned");

    await upsertStage({
      actor: system,
      name: "trust-signed",
      settings: {
        requiredApprovals: 1,
        reviewerGroups: ["trust-reviewers"],
        gates: { sbom: true, provenance: { builderIds: ["https://ci.example.com/**"], sourceRepos: [] }, signedEvidence: true },
      },
    });
    // carol requests it: for a request of dev's, dev's own unsigned line would not count at all (four eyes on evidence).
    const carol = await userActor("carol@example.com");
    const req = await requestPromotion({ actor: carol, registry: "default", repository: "trust/mixed", digest, stage: "trust-signed", note: "n" });
    const gates = (await getRequest({ actor: carol, requestId: req.id })).gates;
    expect(gates.map((g) => [g.gate, g.passed])).toEqual([
      ["sbom", true],
      ["provenance", false],
      ["signedEvidence", false],
    ]);
    expect(gates[1]!.detail).toContain("not signed by a key trusted as builder");
    expect(gates[2]!.detail).toContain("provenance unsigned");
    await expect(reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "ok" })).rejects.toMatchObject({
      code: "POLICY_VIOLATION",
    });

    // The same provenance signed by the builder key: both gates hold.
    await ingestEvidence({ actor: dev, imageId, bytes: Buffer.from(envelope(provenanceStatement("trust/mixed", digest), builder.key)), source: "upload" });
    const admin = await userActor("admin@example.com");
    await withdrawEvidence({ actor: admin, documentId: r.documents[1]!.id, reason: "forged provenance from a developer laptop" });
    const after = (await getRequest({ actor: carol, requestId: req.id })).gates;
    expect(after.map((g) => [g.gate, g.passed])).toEqual([
      ["sbom", true],
      ["provenance", true],
      ["signedEvidence", true],
    ]);
  });

  it("one line about this image does not carry a signed line about another image", async () => {
    const { digest, imageId } = await newImage("trust/other");
    const other = await newImage("trust/other");
    const body = `${envelope(sbomStatement("trust/other", digest), scanner.key)}\n${envelope(sbomStatement("trust/other", other.digest), scanner.key)}`;
    await expect(ingestEvidence({ actor: await userActor("dev@example.com"), imageId, bytes: Buffer.from(body), source: "upload" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "subject",
      message: expect.stringContaining(`line 2: the document names ${other.digest}`),
    });
    expect(await db.evidenceDocument.count({ where: { imageId } })).toBe(0);
  });

  it("refuses CycloneDX components nested 10,000 deep with a 4xx and stores nothing", async () => {
    const { imageId } = await newImage("trust/deep");
    const nest = (k: number) => `${'{"name":"c","components":['.repeat(k)}{"name":"leaf"}${"]}".repeat(k)}`;
    const doc = `{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[${nest(10_000)}]}`;
    await expect(ingestEvidence({ actor: await userActor("dev@example.com"), imageId, bytes: Buffer.from(doc), source: "upload" })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "body",
      message: expect.stringContaining("deeper than"),
    });
    expect(await db.evidenceDocument.count({ where: { imageId } })).toBe(0);
  });
});

describe("evidence signers are a trust role of their own", () => {
  it("a publisher key does not make a scan signed; a scanner key does; provenance needs a builder key", async () => {
    const { digest, imageId } = await newImage("trust/roles");
    const dev = await userActor("dev@example.com");
    const up = async (line: string) => (await ingestEvidence({ actor: dev, imageId, bytes: Buffer.from(line), source: "upload" })).document;
    const byPublisher = await up(envelope(sbomStatement("trust/roles", digest), publisher.key));
    expect(byPublisher.signatureStatus).toBe("invalid");
    expect(byPublisher.signatureDetail).toContain("trusted as scanner");
    const byScanner = await up(envelope(sbomStatement("trust/roles", digest), scanner.key));
    expect([byScanner.signatureStatus, byScanner.signedBy]).toEqual(["signed", "trust-test-scanner"]);
    const provByScanner = await up(envelope(provenanceStatement("trust/roles", digest), scanner.key));
    expect(provByScanner.signatureStatus).toBe("invalid");
    const provByBuilder = await up(envelope(provenanceStatement("trust/roles", digest), builder.key));
    expect([provByBuilder.signatureStatus, provByBuilder.signedBy]).toEqual(["signed", "trust-test-builder"]);
  });

  it("evidence signed by a key revoked from before it arrived, or deleted, no longer counts as signed", async () => {
    const compromised = keyPair();
    await addTrustedKey({
      actor: system,
      name: "trust-test-compromised",
      pem: compromised.pem,
      role: "builder",
      scope: ["trust/**"],
      builderIds: ["https://ci.example.com/*"],
    });
    const { digest, imageId } = await newImage("trust/compromised");
    const dev = await userActor("dev@example.com");
    const up = async (statement: object) =>
      (await ingestEvidence({ actor: dev, imageId, bytes: Buffer.from(envelope(statement, compromised.key)), source: "upload" })).document;
    const before = await up(provenanceStatement("trust/compromised", digest, "https://ci.example.com/builder@v1"));
    const compromisedFrom = new Date(Date.now() + 5);
    await new Promise((r) => setTimeout(r, 20));
    const forged = await up(provenanceStatement("trust/compromised", digest, "https://ci.example.com/builder@forged"));
    expect([before.signatureStatus, forged.signatureStatus]).toEqual(["signed", "signed"]);

    // The key was compromised before the forged provenance reached Imprimatur: revoked from then.
    await updateTrustIdentity({ actor: system, name: "trust-test-compromised", input: { revokedAt: compromisedFrom.toISOString() } });
    const after = await db.evidenceDocument.findMany({ where: { id: { in: [before.id, forged.id] } } });
    expect(after.find((d) => d.id === before.id)!.signatureStatus).toBe("signed");
    expect(after.find((d) => d.id === forged.id)!).toMatchObject({ signatureStatus: "invalid", signatureDetail: expect.stringContaining("revoked from") });
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "test" } });
    const facts = await gatherGateFacts(db, { imageId, stageId: stage.id, now: new Date() });
    expect(facts.provenance.map((p) => [p.builderId, p.signed]).sort()).toEqual([
      ["https://ci.example.com/builder@forged", false],
      ["https://ci.example.com/builder@v1", true],
    ]);
    expect(evaluateGates(parseGateConfig({ signedEvidence: true }), facts).find((g) => g.gate === "signedEvidence")!.passed).toBe(false);

    // Deleted: nothing it signed counts, and a new identity of the same name does not revive it.
    await deleteTrustIdentity({ actor: system, name: "trust-test-compromised" });
    await addTrustedKey({ actor: system, name: "trust-test-compromised", pem: keyPair().pem, role: "builder", scope: ["trust/**"], builderIds: ["**"] });
    expect((await db.evidenceDocument.findUniqueOrThrow({ where: { id: before.id } })).signatureStatus).toBe("invalid");
  });

  it("a scanner key scoped to other repositories does not sign here", async () => {
    const { digest, imageId } = await newImage("elsewhere/roles");
    const d = (
      await ingestEvidence({
        actor: await userActor("dev@example.com"),
        imageId,
        bytes: Buffer.from(envelope(sbomStatement("elsewhere/roles", digest), scanner.key)),
        source: "upload",
      })
    ).document;
    expect(d.signatureStatus).toBe("invalid");
  });
});

describe("a builder key vouches only for the builder ids it is bound to", () => {
  const RELEASE = "https://release.example/builder@v1";

  it("the team's key naming the release builder does not pass; the release key does; narrowing it later puts the approval at risk and revokes it", async () => {
    const team = keyPair();
    const release = keyPair();
    const bind = { actor: system, role: "builder" as const, scope: ["trust/**"] };
    await addTrustedKey({ ...bind, name: "trust-team-ci", pem: team.pem, builderIds: ["https://ci.team.example/*"] });
    await addTrustedKey({ ...bind, name: "trust-release-ci", pem: release.pem, builderIds: ["https://release.example/*"] });
    await upsertStage({
      actor: system,
      name: "trust-release",
      settings: {
        requiredApprovals: 1,
        reviewerGroups: ["trust-reviewers"],
        onRegression: "revoke-after",
        regressionGraceHours: 1,
        gates: { provenance: { builderIds: ["https://release.example/*"] }, signedEvidence: true },
      },
    });
    const { digest, imageId } = await newImage("trust/release");
    const dev = await userActor("dev@example.com");
    const alice = await userActor("alice@example.com");
    const upload = async (key: KeyObject) =>
      (
        await ingestEvidence({
          actor: dev,
          imageId,
          bytes: Buffer.from(envelope(provenanceStatement("trust/release", digest, RELEASE), key)),
          source: "upload",
        })
      ).document;

    // Signed by the team's key (a valid signature by a trusted builder), naming the release builder: refused, saying why.
    expect(await upload(team.key)).toMatchObject({ signatureStatus: "signed", signedBy: "trust-team-ci" });
    const req = await requestPromotion({ actor: dev, registry: "default", repository: "trust/release", digest, stage: "trust-release", note: "n" });
    const gates = (await getRequest({ actor: alice, requestId: req.id })).gates;
    expect(gates.find((g) => g.gate === "provenance")).toMatchObject({
      passed: false,
      detail: `builder ${RELEASE} is not one that key trust-team-ci (builder) may vouch for (its builder ids: https://ci.team.example/*)`,
    });
    await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" })).rejects.toMatchObject({ code: "POLICY_VIOLATION" });

    // The same claim signed by the release builder's key: the gate holds and the approval is signed.
    await upload(release.key);
    expect((await getRequest({ actor: alice, requestId: req.id })).gates.map((g) => [g.gate, g.passed])).toEqual([
      ["provenance", true],
      ["signedEvidence", true],
    ]);
    const outcome = await reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok", later: () => {} });
    expect(outcome.status).toBe("signed");
    await reevaluateApprovals();
    expect(await db.stageRisk.count({ where: { imageId } })).toBe(0);

    // The release key is narrowed to another builder: a trust change, audited and re-judged in its transaction.
    await updateTrustIdentity({ actor: system, name: "trust-release-ci", input: { builderIds: ["https://release.example/other/*"] } });
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "trust.update", target: "trust-release-ci" }, orderBy: { seq: "desc" } });
    expect(audit.detail).toMatchObject({ changes: { builderIds: ["https://release.example/other/*"] } });
    expect(await db.reevaluationRequest.count()).toBeGreaterThan(0);
    await reevaluateApprovals();
    const risk = await db.stageRisk.findFirstOrThrow({ where: { imageId } });
    expect(risk.reasons.join(" ")).toContain(
      `builder ${RELEASE} is not one that key trust-team-ci (builder) may vouch for (its builder ids: https://ci.team.example/*)`,
    );
    await graceEnds(imageId);
    expect(await revokeRegressedApprovals({ now: new Date() })).toMatchObject({ revoked: 1 });
    const approval = await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId! } });
    expect(approval.revokedAt).not.toBeNull();
    const host = new URL(process.env.REGISTRY_URL!).host;
    const denied = await evaluateImage({ image: `${host}/trust/release@${digest}`, stage: "trust-release", refuseTags: false });
    expect(denied.allowed).toBe(false);
  });
});

describe("claimed scan times", () => {
  it("a scan time stated in the future is clamped to the upload time, so the scan-age gate still ages it", async () => {
    const { imageId, configDigest } = await newImage("trust/future");
    const scan = JSON.parse(TRIVY.toString("utf8"));
    scan.Metadata.ImageID = configDigest;
    scan.CreatedAt = "2099-01-01T00:00:00Z";
    const before = Date.now();
    const { document } = await ingestEvidence({
      actor: await userActor("dev@example.com"),
      imageId,
      bytes: Buffer.from(JSON.stringify(scan)),
      source: "upload",
    });
    expect(document.scannedAt!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(document.scannedAt!.getTime()).toBeGreaterThanOrEqual(before - 1000);
    const audit = await db.auditEvent.findFirstOrThrow({ where: { action: "evidence.upload", detail: { path: ["documentId"], equals: document.id } } });
    expect(audit.detail).toMatchObject({ statedScanTime: "2099-01-01T00:00:00Z" });
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "build" } });
    const later = new Date(Date.now() + 3 * 3_600_000);
    const [gate] = evaluateGates(parseGateConfig({ maxScanAgeHours: 1 }), await gatherGateFacts(db, { imageId, stageId: stage.id, now: later }));
    expect(gate).toMatchObject({ gate: "scanAge", passed: false });
  });
});

describe("who may attach evidence", () => {
  it("repositories matched by an uploader rule take evidence only from the rule's group (and admins); others stay open", async () => {
    const ruled = await newImage("trust/ruled-app");
    const open = await newImage("trust/open-app");
    const dev = await userActor("dev@example.com");
    const alice = await userActor("alice@example.com");
    const admin = await userActor("admin@example.com");
    await upsertGroup({ actor: system, name: "trust-uploaders", members: ["alice@example.com"] });
    await expect(setEvidenceUploaders({ actor: dev, rules: [{ pattern: "trust/ruled-*", group: "trust-uploaders" }] })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
    await expect(setEvidenceUploaders({ actor: admin, rules: [{ pattern: "trust/ruled-*", group: "no-such-group" }] })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(setEvidenceUploaders({ actor: admin, rules: [{ pattern: "Trust/<x>", group: "trust-uploaders" }] })).rejects.toMatchObject({
      code: "INVALID_INPUT",
    });
    await setEvidenceUploaders({ actor: admin, rules: [{ pattern: "trust/ruled-*", group: "trust-uploaders" }] });
    try {
      expect(await listEvidenceUploaders({ actor: dev })).toMatchObject([{ pattern: "trust/ruled-*", group: "trust-uploaders" }]);
      const doc = (d: string, name: string) => Buffer.from(JSON.stringify(sbomStatement(name, d)));
      await expect(ingestEvidence({ actor: dev, imageId: ruled.imageId, bytes: doc(ruled.digest, "trust/ruled-app"), source: "upload" })).rejects.toMatchObject(
        {
          code: "FORBIDDEN",
          message: expect.stringContaining("members of group trust-uploaders"),
        },
      );
      expect(await db.evidenceDocument.count({ where: { imageId: ruled.imageId } })).toBe(0);
      // Through the upload path, the refusal comes before a byte of the body is read: a refused uploader cannot make
      // the server receive up to 256 MiB into its memory or spool first.
      let pulled = 0;
      const body = (async function* () {
        pulled++;
        yield doc(ruled.digest, "trust/ruled-app");
      })();
      await expect(ingestEvidenceUpload({ actor: dev, imageId: ruled.imageId, body, maxBytes: 1 << 20 })).rejects.toMatchObject({ code: "FORBIDDEN" });
      expect(pulled).toBe(0);
      expect((await ingestEvidence({ actor: alice, imageId: ruled.imageId, bytes: doc(ruled.digest, "trust/ruled-app"), source: "upload" })).created).toBe(
        true,
      );
      expect((await ingestEvidence({ actor: admin, imageId: ruled.imageId, bytes: doc(ruled.digest, "trust/ruled-app"), source: "upload" })).created).toBe(
        true,
      );
      expect((await ingestEvidence({ actor: dev, imageId: open.imageId, bytes: doc(open.digest, "trust/open-app"), source: "upload" })).created).toBe(true);
      expect(await db.auditEvent.count({ where: { action: "evidence.uploaders.set" } })).toBeGreaterThanOrEqual(1);
    } finally {
      await setEvidenceUploaders({ actor: admin, rules: [] });
    }
  });
});

describe("withdrawing evidence", () => {
  it("an admin withdraws a document with a reason: kept and shown, audited, no longer counted by the gates", async () => {
    const { imageId, configDigest, digest } = await newImage("trust/withdraw");
    const dev = await userActor("dev@example.com");
    const admin = await userActor("admin@example.com");
    const scan = JSON.parse(TRIVY.toString("utf8"));
    scan.Metadata.ImageID = configDigest;
    const { document } = await ingestEvidence({ actor: dev, imageId, bytes: Buffer.from(JSON.stringify(scan)), source: "upload" });
    const stage = await db.stage.findUniqueOrThrow({ where: { name: "build" } });
    const cfg = parseGateConfig({ findings: { max: { medium: 0 } } });
    expect(evaluateGates(cfg, await gatherGateFacts(db, { imageId, stageId: stage.id }))[0]!.passed).toBe(false);

    await expect(withdrawEvidence({ actor: dev, documentId: document.id, reason: "not mine to judge" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(withdrawEvidence({ actor: admin, documentId: document.id, reason: "no" })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "reason" });
    await expect(withdrawEvidence({ actor: admin, documentId: "00000000-0000-0000-0000-000000000000", reason: "wrong image entirely" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    const w = await withdrawEvidence({ actor: admin, documentId: document.id, reason: "scan of the wrong build uploaded by mistake" });
    expect(w.already).toBe(false);
    expect((await withdrawEvidence({ actor: admin, documentId: document.id, reason: "again, differently" })).reason).toBe(
      "scan of the wrong build uploaded by mistake",
    );

    const row = await db.evidenceDocument.findUniqueOrThrow({ where: { id: document.id } });
    expect(row.withdrawReason).toBe("scan of the wrong build uploaded by mistake");
    expect(await db.finding.count({ where: { documentId: document.id } })).toBeGreaterThan(0);
    const audits = await db.auditEvent.findMany({ where: { action: "evidence.withdraw", targetDigest: digest } });
    expect(audits).toHaveLength(1);
    expect(audits[0]!.detail).toMatchObject({ documentId: document.id, reason: "scan of the wrong build uploaded by mistake" });

    const facts = await gatherGateFacts(db, { imageId, stageId: stage.id });
    expect([facts.scanCount, facts.findings.length]).toEqual([0, 0]);
    // "0 findings" without a live scan proves nothing: the findings gate fails for want of a scan, not on the old findings.
    expect(evaluateGates(cfg, facts)[0]!.detail).toContain("no vulnerability scan");
    const ev = await getImageEvidence({ actor: dev, imageId, query: parseEvidenceQuery({}) });
    expect(ev.documents[0]).toMatchObject({ id: document.id, withdrawReason: "scan of the wrong build uploaded by mistake" });
    expect(ev.documents[0]!.withdrawnAt).toBeTruthy();
    expect(ev.vulnerabilities).toHaveLength(0);
  });
});

describe("four eyes on waivers, whatever the order", () => {
  it("a waiver granted before the request by the later requester, or by the build's provenance uploader, does not count", async () => {
    const { digest, imageId } = await newImage("trust/eyes");
    await upsertStage({
      actor: system,
      name: "trust-eyes",
      settings: { requiredApprovals: 1, reviewerGroups: ["trust-reviewers"], waiverGroup: "trust-waivers", gates: { sbom: true } },
    });
    const carol = await userActor("carol@example.com");
    const bob = await userActor("bob@example.com");
    const alice = await userActor("alice@example.com");
    const expiresAt = new Date(Date.now() + 86_400_000);
    // carol waives the SBOM gate while no request is open (allowed then), and later asks for the promotion herself.
    const w = await grantWaiver({
      actor: carol,
      registry: "default",
      stage: "trust-eyes",
      gate: "sbom",
      repository: "trust/eyes",
      digest,
      reason: "SBOM tooling next sprint",
      expiresAt,
    });
    const req = await requestPromotion({ actor: carol, registry: "default", repository: "trust/eyes", digest, stage: "trust-eyes", note: "mine" });
    const gate = (await getRequest({ actor: alice, requestId: req.id })).gates[0]!;
    expect(gate).toMatchObject({ gate: "sbom", passed: false, waived: false });
    expect(gate.detail).toContain("Carol");
    expect(gate.detail).toContain("requested this promotion");
    await expect(reviewRequest({ actor: alice, requestId: req.id, decision: "approve", comment: "ok" })).rejects.toMatchObject({ code: "POLICY_VIOLATION" });
    expect(await db.review.count({ where: { requestId: req.id } })).toBe(0);

    // bob's waiver counts, until bob turns out to have uploaded the build's provenance.
    const w2 = await grantWaiver({
      actor: bob,
      registry: "default",
      stage: "trust-eyes",
      gate: "sbom",
      repository: "trust/eyes",
      digest,
      reason: "accepted for this build",
      expiresAt,
    });
    expect((await getRequest({ actor: alice, requestId: req.id })).gates[0]).toMatchObject({ passed: true, waived: true, waiverIds: [w2.id] });
    await ingestEvidence({ actor: bob, imageId, bytes: Buffer.from(JSON.stringify(provenanceStatement("trust/eyes", digest))), source: "upload" });
    const again = (await getRequest({ actor: alice, requestId: req.id })).gates[0]!;
    expect(again).toMatchObject({ passed: false, waived: false });
    expect(again.detail).toContain("uploaded this build's provenance");
    expect(w.id).not.toBe(w2.id);
  });
});

describe("the demo builds on its bases for real", () => {
  it("the demo images' layers start with the layers of the bases they name", async () => {
    await pushDemoImages();
    await syncRegistry({ actor: system, repositories: ["publisher/base", "platform/base-hardened", "apps/payments-api"] });
    for (const repo of ["platform/base-hardened", "apps/payments-api"]) {
      const imgs = await db.image.findMany({ where: { repository: { name: repo } }, select: { id: true } });
      expect(imgs.length).toBeGreaterThan(0);
      for (const img of imgs) {
        const fact = await findBaseImage(db, img.id);
        expect([repo, fact.state]).not.toEqual([repo, "layers-mismatch"]);
        expect(fact.digest).toBeTruthy();
      }
    }
  });
});
