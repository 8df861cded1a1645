import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundleFromJSON } from "@sigstore/bundle";
import { toSignedEntity, Verifier } from "@sigstore/verify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { startTsa, type TsaHandle } from "../../../scripts/lib/tsa.mjs";
import { startBackdatingTsa } from "../../../scripts/test-harness/backdating-tsa";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { RFC3161_ANNOTATION } from "../../signing/formats/cosign-cert";
import { parsePublicKey } from "../../signing/keys/software";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import { toSigstoreTrustMaterial } from "../../signing/trust/sigstore-root";
import { loadTrustMaterial } from "../../signing/trust/judgement";
import { EMPTY_TRUST } from "../../signing/verification";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { getImage } from "../images/get-image";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { completePendingSignatures } from "./complete-pending-signatures";

const system: Actor = { kind: "system", label: "tsa-test" };
let client: RegistryClient;
let host: string;
let tsa: TsaHandle;
let work: string;

async function sigLayers(repo: string, digest: string) {
  const m = await client.getManifest(repo, cosignTag(digest as Digest, "sig"));
  const p = parseManifest(m.bytes, m.mediaType);
  if (p.kind !== "manifest") throw new Error("not a manifest");
  return p.manifest.layers;
}

function opensslVerify(data: Buffer, token: Buffer): string {
  writeFileSync(join(work, "data"), data);
  writeFileSync(join(work, "reply.tsr"), token);
  // The stored value is the TSA's TimeStampResp, as cosign and Sigstore bundles carry it: openssl reads it as a reply.
  return execFileSync(
    "openssl",
    ["ts", "-verify", "-data", join(work, "data"), "-in", join(work, "reply.tsr"), "-CAfile", join(work, "root.pem"), "-untrusted", join(work, "tsa.pem")],
    { stdio: ["ignore", "pipe", "pipe"] },
  ).toString();
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  tsa = await startTsa({});
  work = mkdtempSync(join(tmpdir(), "tsa-int-"));
  writeFileSync(join(work, "root.pem"), tsa.rootPem);
  writeFileSync(join(work, "tsa.pem"), tsa.tsaPem);
  process.env.IMPRIMATUR_TSA_URL = tsa.url;
  resetEnvCache();
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  await db.stage.update({ where: { name: "test" }, data: { emitBundle: true } });
  await createTrustIdentity({ actor: system, input: { name: "test-tsa", kind: "tsa", role: "stage", certificates: tsa.chainPem } });
});

afterAll(async () => {
  delete process.env.IMPRIMATUR_TSA_URL;
  resetEnvCache();
  await tsa.destroy();
  rmSync(work, { recursive: true, force: true });
  await stopBoss();
  await disconnectDb();
});

describe("trusted time on stage signatures (a real TSA: openssl ts -reply)", () => {
  it("attaches a token over the raw signature as cosign does and in the bundle; openssl, sigstore-js and the image page trust its time", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "tsa.txt": `tsa ${Date.now()}` }] });
    await pushImage(client, "tsa/app", img, ["1"]);
    await syncRegistry({ actor: system });
    const approval = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: "tsa/app",
      digest: img.digest,
      stage: "test",
      comment: "ok",
    });
    expect(approval.status).toBe("signed");
    const row = await db.approval.findUniqueOrThrow({ where: { id: approval.id }, include: { signingKey: true } });
    expect(row.timestampToken).not.toBeNull();
    expect(row.timestampAt!.getTime()).toBeGreaterThanOrEqual(Math.floor(row.createdAt.getTime() / 1000) * 1000 - 1000);
    expect(row.timestampBy).toContain("Imprimatur Test TSA");

    // The .sig layer, as read back from the registry: cosign's annotation, a token over the raw signature bytes.
    const layer = (await sigLayers("tsa/app", img.digest)).find((l) => l.digest === row.layerDigest)!;
    const annotation = JSON.parse(layer.annotations![RFC3161_ANNOTATION]!) as { SignedRFC3161Timestamp: string };
    const token = Buffer.from(annotation.SignedRFC3161Timestamp, "base64");
    expect(token.equals(Buffer.from(row.timestampToken!))).toBe(true);
    const rawSig = Buffer.from(layer.annotations![SIGNATURE_ANNOTATION]!, "base64");
    expect(opensslVerify(rawSig, token)).toContain("Verification: OK");

    // The image page: the stage signature's time is trusted, by the TSA.
    const page = await getImage({ actor: await userActor("alice@example.com"), repository: "tsa/app", digest: img.digest });
    const sig = page.signatures.find((s) => s.layerDigest === row.layerDigest)!;
    expect(sig.verdict).toBe("verified");
    expect(sig.time).toMatchObject({ kind: "trusted", by: expect.stringContaining("TSA") });
    expect(new Date(sig.time!.at!).getTime()).toBe(row.timestampAt!.getTime());
    expect(page.approvals[0]!.trustedTime).toMatchObject({ by: "tsa", at: row.timestampAt!.toISOString() });

    // The Sigstore bundle referrer: a token in timestampVerificationData that sigstore-js accepts with the TSA in its
    // trusted root (and requires: timestampThreshold 1), and that openssl accepts over the DSSE signature.
    const bundleRow = await db.stageBundle.findUniqueOrThrow({ where: { approvalId: approval.id } });
    const m = parseManifest((await client.getManifest("tsa/app", bundleRow.artifactDigest)).bytes);
    if (m.kind !== "manifest") throw new Error("expected a manifest");
    const json = JSON.parse((await client.getBlob("tsa/app", m.manifest.layers[0]!.digest as Digest)).toString("utf8")) as {
      mediaType: string;
      verificationMaterial: { timestampVerificationData: { rfc3161Timestamps: { signedTimestamp: string }[] } };
      dsseEnvelope: { signatures: { sig: string }[] };
    };
    expect(json.mediaType).toBe(MT.sigstoreBundleV03);
    const stamps = json.verificationMaterial.timestampVerificationData.rfc3161Timestamps;
    expect(stamps).toHaveLength(1);
    expect(opensslVerify(Buffer.from(json.dsseEnvelope.signatures[0]!.sig, "base64"), Buffer.from(stamps[0]!.signedTimestamp, "base64"))).toContain(
      "Verification: OK",
    );
    const info = parsePublicKey(row.signingKey.publicKeyPem);
    const tsaRoots = loadTrustMaterial([{ name: "test-tsa", kind: "tsa", role: "stage", scope: ["**"], certificates: [tsa.tsaPem, tsa.rootPem] }]).tsaRoots;
    const trust = toSigstoreTrustMaterial({
      ...EMPTY_TRUST,
      tsaRoots,
      keys: [{ name: row.signingKey.name, fingerprint: info.fingerprint, key: info.key, algorithm: info.algorithm }],
    });
    new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 }).verify(toSignedEntity(bundleFromJSON(json)));
    // Without the TSA in the trusted root, the same threshold fails: the token is what satisfied it.
    const noTsa = toSigstoreTrustMaterial({
      ...EMPTY_TRUST,
      keys: [{ name: row.signingKey.name, fingerprint: info.fingerprint, key: info.key, algorithm: info.algorithm }],
    });
    expect(() => new Verifier(noTsa, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 1 }).verify(toSignedEntity(bundleFromJSON(json)))).toThrow();
  });

  it("leaves the approval 'signature pending' while the TSA is down and completes it, stamped, on retry", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "tsa-down.txt": `down ${Date.now()}` }] });
    await pushImage(client, "tsa/down", img, ["1"]);
    await syncRegistry({ actor: system });
    await tsa.stop();
    let approvalId: string;
    try {
      const dev = await userActor("dev@example.com");
      const { requestPromotion } = await import("../promotions/request-promotion");
      const { approveStage } = await import("./approve-stage");
      await requestPromotion({ actor: dev, repository: "tsa/down", digest: img.digest, stage: "build", note: "n" });
      const r = await approveStage({ actor: await userActor("alice@example.com"), repository: "tsa/down", digest: img.digest, stage: "build", comment: "ok" });
      expect(r.status).toBe("signing");
      expect(r.pendingReason).toMatch(/timestamp authority/);
      approvalId = r.id!;
      const row = await db.approval.findUniqueOrThrow({ where: { id: approvalId } });
      expect(row).toMatchObject({ status: "signing", timestampToken: null });
      // Nothing went to the registry without its trusted time, and verify does not pass it.
      await expect(client.getManifest("tsa/down", cosignTag(img.digest, "sig"))).rejects.toMatchObject({ code: "NOT_FOUND" });
      const v = await evaluateImage({ image: `${host}/tsa/down@${img.digest}`, stage: "build", refuseTags: true });
      expect(v.allowed).toBe(false);
      expect(v.reasons.join(" ")).toMatch(/not yet in the registry/);
      expect(await db.auditEvent.count({ where: { action: "signature.timestamp", outcome: "failure" } })).toBe(1);
    } finally {
      await tsa.start();
    }
    const done = await completePendingSignatures({ actor: system });
    expect(done.completed).toBe(1);
    const row = await db.approval.findUniqueOrThrow({ where: { id: approvalId } });
    expect(row.status).toBe("signed");
    expect(row.timestampToken).not.toBeNull();
    const layer = (await sigLayers("tsa/down", img.digest)).find((l) => l.digest === row.layerDigest)!;
    expect(layer.annotations![RFC3161_ANNOTATION]).toBeTruthy();
    expect((await evaluateImage({ image: `${host}/tsa/down@${img.digest}`, stage: "build", refuseTags: true })).allowed).toBe(true);
  });
});

/**
 * An image approved for prod while the TSA is down (signature pending), then the prod key revoked from now: the
 * approval, recorded before, is not among the revoked; the TSA is back, and its next token's time is after the
 * compromise (its genTime may be whole seconds: the next second has begun).
 */
async function pendingWhenKeyCompromised(repository: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "tsa.txt": `${repository} ${Date.now()}` }] });
  await pushImage(client, repository, img, ["1"]);
  await syncRegistry({ actor: system });
  const { requestPromotion } = await import("../promotions/request-promotion");
  const { approveStage } = await import("./approve-stage");
  const { revokeStageKey } = await import("../keys/revoke-stage-key");
  await tsa.stop();
  try {
    await requestPromotion({ actor: await userActor("dev@example.com"), repository, digest: img.digest, stage: "prod", note: "n" });
    const r = await approveStage({ actor: await userActor("alice@example.com"), repository, digest: img.digest, stage: "prod", comment: "ok" });
    expect(r.status).toBe("signing");
    await new Promise((res) => setTimeout(res, 50));
    const revoked = await revokeStageKey({ actor: await userActor("admin@example.com"), stage: "prod", effectiveAt: new Date(), reason: "key leaked" });
    // Judged by its record time, before the compromise: not among the revoked.
    expect(revoked.approvals.map((a) => a.approvalId)).not.toContain(r.id);
    await new Promise((res) => setTimeout(res, 1100));
    return { img, approvalId: r.id! };
  } finally {
    await tsa.start();
  }
}

describe("a stage key compromised before a pending signature's trusted time", () => {
  // The approval was recorded before the compromise time, but its signature was still waiting for the TSA when the
  // key was revoked: the revocation judged it by Imprimatur's record (before: unaffected). The TSA's time, which then
  // becomes its trusted time, is after the compromise: by the revocation's own rule it must not stand.
  it("revokes the approval when the TSA's time comes in after the key's compromise time, and pushes nothing", async () => {
    const { img, approvalId } = await pendingWhenKeyCompromised("tsa/late");
    // Before the fix the layer was pushed and the summary then failed on the revoked key: kept to assert on below.
    const done = await completePendingSignatures({ actor: system }).catch((e: unknown) => e);
    const row = await db.approval.findUniqueOrThrow({ where: { id: approvalId }, include: { signingKey: true } });
    expect(row.timestampAt!.getTime()).toBeGreaterThanOrEqual(row.signingKey.revokedAt!.getTime());
    expect(
      { revoked: row.revokedAt !== null, source: row.revocationSource, status: row.status },
      "an approval whose trusted time is after its key's compromise stands",
    ).toEqual({ revoked: true, source: "key-compromise", status: "signing" });
    expect(done).toMatchObject({ completed: 0, failures: [{ approvalId, error: expect.stringContaining("compromised from") }] });
    await expect(client.getManifest("tsa/late", cosignTag(img.digest, "sig"))).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect((await evaluateImage({ image: `${host}/tsa/late@${img.digest}`, stage: "prod", refuseTags: true })).allowed).toBe(false);
  });
});

describe("a signature pending on the TSA when another approval of the same image is pushed", () => {
  // Found by review: the other approval's push wrote every recorded layer of the image to the `.sig` manifest,
  // including the one still waiting for its token, and marked it signed, so its trusted time was never judged against
  // the key's compromise and ImageReview admitted it.
  it("is left out of that push, and its own retry judges its TSA time: a key compromised before it revokes it", async () => {
    const { img, approvalId } = await pendingWhenKeyCompromised("tsa/carried");
    const { requestPromotion } = await import("../promotions/request-promotion");
    const { approveStage } = await import("./approve-stage");
    // The TSA is back; another stage of the same image is approved before the scheduler's retry.
    await requestPromotion({ actor: await userActor("dev@example.com"), repository: "tsa/carried", digest: img.digest, stage: "build", note: "n" });
    const b = await approveStage({ actor: await userActor("alice@example.com"), repository: "tsa/carried", digest: img.digest, stage: "build", comment: "ok" });
    expect(b.status).toBe("signed");
    const layersNow = async () => {
      const m = parseManifest((await client.getManifest("tsa/carried", cosignTag(img.digest, "sig"))).bytes);
      return m.kind === "manifest" ? m.manifest.layers : [];
    };
    const pending = await db.approval.findUniqueOrThrow({ where: { id: approvalId } });
    expect({ status: pending.status, stamped: pending.timestampAt !== null }).toEqual({ status: "signing", stamped: false });
    const build = await db.approval.findUniqueOrThrow({ where: { id: b.id! } });
    expect((await layersNow()).map((l) => [l.digest, Boolean(l.annotations?.[RFC3161_ANNOTATION])])).toEqual([[build.layerDigest, true]]);
    // The retry stamps it, finds the TSA time after the compromise, and revokes it; nothing of it reaches the registry.
    await completePendingSignatures({ actor: system }).catch((e: unknown) => e);
    const row = await db.approval.findUniqueOrThrow({ where: { id: approvalId } });
    expect({ revoked: row.revokedAt !== null, source: row.revocationSource }).toEqual({ revoked: true, source: "key-compromise" });
    expect((await layersNow()).map((l) => l.digest)).toEqual([build.layerDigest]);
    expect((await evaluateImage({ image: `${host}/tsa/carried@${img.digest}`, stage: "prod", refuseTags: true })).allowed).toBe(false);
    expect((await evaluateImage({ image: `${host}/tsa/carried@${img.digest}`, stage: "build", refuseTags: true })).allowed).toBe(true);
  });
});

describe("a trusted TSA whose time is before the request was sent", () => {
  // The TSA is trusted, but its clock is an hour behind. Its time would become the approval's trusted time, dating
  // the signature before a key's compromise that happened after the approval was made (and making it expire early).
  it("is refused: the signature waits for a TSA whose time can be true, and a key revoked from before the approval revokes it", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "tsa-behind.txt": `behind ${Date.now()}` }] });
    await pushImage(client, "tsa/behind", img, ["1"]);
    await syncRegistry({ actor: system });
    const { requestPromotion } = await import("../promotions/request-promotion");
    const { approveStage } = await import("./approve-stage");
    const { revokeStageKey } = await import("../keys/revoke-stage-key");
    const behind = await startBackdatingTsa({ lagMs: 3_600_000 });
    await createTrustIdentity({ actor: system, input: { name: "tsa-behind", kind: "tsa", role: "stage", certificates: behind.chainPem } });
    process.env.IMPRIMATUR_TSA_URL = behind.url;
    resetEnvCache();
    let approvalId: string;
    try {
      await requestPromotion({ actor: await userActor("dev@example.com"), repository: "tsa/behind", digest: img.digest, stage: "build", note: "n" });
      const r = await approveStage({
        actor: await userActor("alice@example.com"),
        repository: "tsa/behind",
        digest: img.digest,
        stage: "build",
        comment: "ok",
      });
      approvalId = r.id!;
      expect(r.status).toBe("signing");
      expect(r.pendingReason).toMatch(/its clock is behind/);
      // The key leaked half an hour ago, before this approval was made.
      await revokeStageKey({
        actor: await userActor("admin@example.com"),
        stage: "build",
        effectiveAt: new Date(Date.now() - 1_800_000),
        reason: "key leaked",
      });
    } finally {
      process.env.IMPRIMATUR_TSA_URL = tsa.url;
      resetEnvCache();
      await behind.destroy();
    }
    const row = await db.approval.findUniqueOrThrow({ where: { id: approvalId } });
    expect(
      { revoked: row.revokedAt !== null, source: row.revocationSource, trustedBefore: row.trustedAt!.getTime() < row.createdAt.getTime() - 60_000 },
      "an approval made after its key's compromise stands on a TSA time from before it was made",
    ).toEqual({ revoked: true, source: "key-compromise", trustedBefore: false });
    expect((await evaluateImage({ image: `${host}/tsa/behind@${img.digest}`, stage: "build", refuseTags: true })).allowed).toBe(false);
  });
});
