// A registry writer without any signing key, against the sync and the revocation path. Found by review: a `.sig`
// manifest with `"annotations": null` (a nil map to Go, so valid for cosign and every admission engine) was refused by
// this client's parser, so a revocation could never take its layer out and a revoked layer put back in such a manifest
// went unseen; and an image config nested 20,000 levels deep made the repository's whole write throw on every sync, so
// its tags froze (verify by tag kept resolving the old, approved digest). Each test asserts the safe outcome.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSig } from "../../../scripts/test-harness/read-sig";
import { RequestCounter } from "../../../bench/lib/request-counter";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndApproved, pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { MT } from "../../oci/media-types";
import { buildReferrerManifest } from "../../oci/push-referrer";
import { cosignTag, referrersFallbackTag } from "../../oci/reference";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { completePendingRevocations } from "../approvals/complete-pending-revocations";
import { revokeApproval } from "../approvals/revoke-approval";
import { stopBoss } from "../jobs/boss";
import { reviewRequest } from "../promotions/review-request";
import { syncRegistry } from "./sync-registry";

const system: Actor = { kind: "system", label: "hostile-accessories" };
let client: RegistryClient;
let host: string;

/** The layer digests of the `.sig` manifest as the registry holds it (read raw, as a Go tool would). */
async function rawSigLayers(repo: string, digest: Digest): Promise<string[]> {
  const raw = JSON.parse((await client.getManifest(repo, cosignTag(digest, "sig"))).bytes.toString("utf8")) as { layers: { digest: string }[] | null };
  return (raw.layers ?? []).map((l) => l.digest);
}

/** Writes the `.sig` manifest again as given, with `annotations: null` (Go's encoding of a nil map). */
async function putWithNullAnnotations(repo: string, digest: Digest, manifest: Buffer) {
  const doc = JSON.parse(manifest.toString("utf8")) as Record<string, unknown>;
  doc.annotations = null;
  await client.putManifest(repo, cosignTag(digest, "sig"), Buffer.from(JSON.stringify(doc)), MT.ociManifest);
}

async function approved(repo: string, label: string) {
  const { digest, requestId } = await pushedAndRequested({ client, repository: repo, stage: "test", label });
  const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
  expect(outcome.status).toBe("signed");
  return { digest, approval: await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId! } }) };
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  await seedUsers();
  await seedStages(["build", "test"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("a .sig manifest with null fields, as Go writes a nil map", () => {
  it("does not keep a revoked layer in the registry: the revocation reads it and removes the layer", async () => {
    const repo = "hostile/null-before-revoke";
    const { digest, approval } = await approved(repo, "null-before");
    await putWithNullAnnotations(repo, digest, (await client.getManifest(repo, cosignTag(digest, "sig"))).bytes);
    const r = await revokeApproval({ approvalId: approval.id, actor: await userActor("alice@example.com"), reason: "compromised" });
    expect(r.state).toBe("removed");
    expect(await rawSigLayers(repo, digest)).not.toContain(approval.layerDigest);
  });

  it("does not hide a revoked layer put back in it: the sync reopens the revocation and the tick removes it again", async () => {
    const repo = "hostile/null-after-revoke";
    const { digest, approval } = await approved(repo, "null-after");
    const stageLayer = (await readSig(client, repo, digest)).manifest.layers.find((l) => l.digest === approval.layerDigest)!;
    expect((await revokeApproval({ approvalId: approval.id, actor: await userActor("alice@example.com"), reason: "compromised" })).state).toBe("removed");
    const now = await readSig(client, repo, digest);
    const back = appendSignatureLayers({ existing: now.manifest, existingConfig: now.config, add: [stageLayer] });
    await client.putBlob(repo, back.config);
    await putWithNullAnnotations(repo, digest, back.manifest);
    expect(await rawSigLayers(repo, digest)).toContain(approval.layerDigest);
    await syncRegistry({ actor: system, registry: "default" });
    expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("pending");
    await completePendingRevocations({ actor: system });
    expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("removed");
    expect(await rawSigLayers(repo, digest)).not.toContain(approval.layerDigest);
  });
});

describe("junk referrers in front of the cosign tags", () => {
  it("do not push the .sig manifest out of what a sync reads: a revoked layer put back in it is still found", async () => {
    const repo = "hostile/junk-referrers";
    const { digest, approval } = await approved(repo, "junk");
    const stageLayer = (await readSig(client, repo, digest)).manifest.layers.find((l) => l.digest === approval.layerDigest)!;
    expect((await revokeApproval({ approvalId: approval.id, actor: await userActor("alice@example.com"), reason: "compromised" })).state).toBe("removed");
    // 200 tiny referrers (as many as a sync reads of one image), listed in the fallback index ahead of everything.
    const image = await db.image.findFirstOrThrow({ where: { digest } });
    await client.putBlob(repo, Buffer.from("{}"));
    const junkBlob = Buffer.from("junk");
    const junkDigest = await client.putBlob(repo, junkBlob);
    const manifests = [];
    for (let i = 0; i < 200; i++) {
      const m = buildReferrerManifest({
        subject: { mediaType: image.mediaType, digest, size: image.size },
        artifactType: "application/vnd.example.junk",
        blob: { mediaType: "application/vnd.example.junk", digest: junkDigest, size: junkBlob.byteLength },
        annotations: { n: String(i) },
      });
      const d = await client.putManifest(repo, sha256Digest(m), m, MT.ociManifest);
      manifests.push({ mediaType: MT.ociManifest, digest: d, size: m.byteLength, artifactType: "application/vnd.example.junk" });
    }
    await client.putManifest(
      repo,
      referrersFallbackTag(digest),
      Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests })),
      MT.ociIndex,
    );
    await syncRegistry({ actor: system, registry: "default" });
    expect(await db.artifact.count({ where: { imageId: image.id, source: "cosign-tag" } })).toBe(1);
    // Then the revoked layer goes back into an ordinary `.sig` manifest.
    const now = await readSig(client, repo, digest);
    const back = appendSignatureLayers({ existing: now.manifest, existingConfig: now.config, add: [stageLayer] });
    await client.putBlob(repo, back.config);
    await client.putManifest(repo, cosignTag(digest, "sig"), back.manifest, MT.ociManifest);
    await syncRegistry({ actor: system, registry: "default" });
    expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("pending");
  });
});

describe("a revoked bundle attached again behind junk signatures", () => {
  it("is still found, reopened and removed, however many signatures stand in front of it", async () => {
    // Found by review: 100 junk `.sig` layers filled the verification cap, so the new manifest around the revoked
    // bundle's blob was never read, never reopened and, having no signature row, never removed.
    const repo = "hostile/bundle-behind-cap";
    await db.stage.update({ where: { name: "test" }, data: { emitBundle: true } });
    try {
      const { digest, approval } = await approved(repo, "bundle-cap");
      // The bundle is pushed after the answer (deferred accessories); the retry tick pushes it here.
      const { completePendingBundles } = await import("../approvals/finish-stage-signature");
      await completePendingBundles();
      const bundle = await db.stageBundle.findUniqueOrThrow({ where: { approvalId: approval.id } });
      const bundleBytes = await client.getBlob(repo, bundle.bundleDigest as Digest);
      const image = await db.image.findFirstOrThrow({ where: { digest } });
      expect((await revokeApproval({ approvalId: approval.id, actor: await userActor("alice@example.com"), reason: "compromised" })).state).toBe("removed");
      // 100 junk simple-signing layers in `.sig` (cosign layers come before referrers in verification order).
      const cfg = Buffer.from(JSON.stringify({ architecture: "", os: "", rootfs: { type: "layers", diff_ids: [] }, config: {} }));
      const cfgDigest = await client.putBlob(repo, cfg);
      const layers = [];
      for (let i = 0; i < 100; i++) {
        const b = Buffer.from(`junk ${i}`);
        layers.push({
          mediaType: MT.cosignSimpleSigning,
          digest: await client.putBlob(repo, b),
          size: b.byteLength,
          annotations: { "dev.cosignproject.cosign/signature": "AA==" },
        });
      }
      const sig = Buffer.from(
        JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, config: { mediaType: MT.ociConfig, digest: cfgDigest, size: cfg.byteLength }, layers }),
      );
      await client.putManifest(repo, cosignTag(digest, "sig"), sig, MT.ociManifest);
      await syncRegistry({ actor: system, registry: "default" });
      const { pushReferrer } = await import("../../oci/push-referrer");
      const again = await pushReferrer({
        client,
        repository: repo,
        subject: { mediaType: image.mediaType, digest, size: image.size },
        artifactType: MT.sigstoreBundleV03,
        blobBytes: bundleBytes,
        blobMediaType: MT.sigstoreBundleV03,
        annotations: { "dev.sigstore.bundle.predicateType": "https://sigstore.dev/cosign/sign/v1" },
        created: new Date(Date.now() + 5_000),
      });
      expect(again.descriptor.digest).not.toBe(bundle.artifactDigest);
      await syncRegistry({ actor: system, registry: "default" });
      expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("pending");
      await completePendingRevocations({ actor: system });
      expect((await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).revocationState).toBe("removed");
      const { listReferrers } = await import("../../oci/referrers");
      expect((await listReferrers(client, repo, digest)).map((r) => r.digest)).not.toContain(again.descriptor.digest);
    } finally {
      await db.stage.update({ where: { name: "test" }, data: { emitBundle: false } });
    }
  });
});

describe("evidence referrers repeating one blob", () => {
  it("download it once per sync, and not again when the referrers are listed anew", async () => {
    // Found by review: each new artifact's layers were downloaded, fifty per artifact, before evidence was
    // de-duplicated; 20 artifacts of 50 layers of one blob cost 1,000 blob GETs, again each time the index came back.
    const repo = "hostile/repeated-evidence";
    const { digest } = await pushedAndRequested({ client, repository: repo, stage: "build", label: "sbom" });
    const image = await db.image.findFirstOrThrow({ where: { digest } });
    const sbom = Buffer.from(
      JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components: [{ type: "library", name: "x", version: "1" }] }),
    );
    const blob = { mediaType: "application/vnd.cyclonedx+json", digest: await client.putBlob(repo, sbom), size: sbom.byteLength };
    await client.putBlob(repo, Buffer.from("{}"));
    const manifests = [];
    for (let i = 0; i < 5; i++) {
      const m = JSON.parse(
        buildReferrerManifest({
          subject: { mediaType: image.mediaType, digest, size: image.size },
          artifactType: blob.mediaType,
          blob,
          annotations: { n: String(i) },
        }).toString("utf8"),
      ) as { layers: unknown[] };
      m.layers = Array.from({ length: 10 }, () => m.layers[0]);
      const bytes = Buffer.from(JSON.stringify(m));
      manifests.push({
        mediaType: MT.ociManifest,
        digest: await client.putManifest(repo, sha256Digest(bytes), bytes, MT.ociManifest),
        size: bytes.byteLength,
        artifactType: blob.mediaType,
      });
    }
    const listIndex = (list: object[]) =>
      client.putManifest(
        repo,
        referrersFallbackTag(digest),
        Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests: list })),
        MT.ociIndex,
      );
    const blobGets = async () => {
      const counter = new RequestCounter(new URL(process.env.REGISTRY_URL!).origin).start();
      const r = await syncRegistry({ actor: system, registry: "default", repositories: [repo] });
      counter.stop();
      expect(r.errors).toEqual([]);
      return counter.snapshot()["GET blobs"] ?? 0;
    };
    await listIndex(manifests);
    expect(await blobGets()).toBe(1);
    expect(await db.evidenceDocument.count({ where: { imageId: image.id, kind: "sbom" } })).toBe(1);
    await listIndex([]);
    await blobGets();
    await listIndex(manifests);
    expect(await blobGets()).toBe(0);
  });
});

describe("a decoy artifact naming an evidence blob as something it is not", () => {
  it("does not keep the real artifact's layer from being read: the SBOM is stored", async () => {
    // Found by review of the dedupe above: a decoy listing the real SBOM's blob as a Sigstore bundle (nothing stored:
    // it has no envelope) or with a size it does not have marked the blob read, and the real referrer was skipped.
    const repo = "hostile/decoy-evidence";
    const { digest } = await pushedAndRequested({ client, repository: repo, stage: "build", label: "decoy" });
    const image = await db.image.findFirstOrThrow({ where: { digest } });
    const sbom = Buffer.from(
      JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.5", version: 1, components: [{ type: "library", name: "y", version: "2" }] }),
    );
    const blob = { digest: await client.putBlob(repo, sbom), size: sbom.byteLength };
    await client.putBlob(repo, Buffer.from("{}"));
    const subject = { mediaType: image.mediaType, digest, size: image.size };
    const entry = async (artifactType: string, size = blob.size) => {
      const m = buildReferrerManifest({ subject, artifactType, blob: { mediaType: artifactType, digest: blob.digest, size } });
      return { mediaType: MT.ociManifest, digest: await client.putManifest(repo, sha256Digest(m), m, MT.ociManifest), size: m.byteLength, artifactType };
    };
    const decoys = [await entry(MT.sigstoreBundleV03), await entry("application/vnd.cyclonedx+json", 64 * 1024 * 1024)];
    const real = await entry("application/vnd.cyclonedx+json");
    const index = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: [...decoys, real] };
    await client.putManifest(repo, referrersFallbackTag(digest), Buffer.from(JSON.stringify(index)), MT.ociIndex);
    await syncRegistry({ actor: system, registry: "default", repositories: [repo] });
    expect(await db.evidenceDocument.count({ where: { imageId: image.id, kind: "sbom" } })).toBe(1);
  });
});

describe("an image config nested 20,000 levels deep", () => {
  it("is not kept, and the repository's sync still records the tag it moved: verify by tag judges the new digest", async () => {
    const repo = "hostile/deep-config";
    await pushedAndApproved({ client, repository: repo, stage: "test", label: "latest" });
    const before = await evaluateImage({ image: `${host}/${repo}:latest`, stage: "test", refuseTags: false });
    expect(before.allowed).toBe(true);
    // The config blob is opaque bytes to the registry: a history entry nested 20,000 levels deep.
    const m = buildImage({ architecture: "amd64", layers: [{ "deep.txt": `deep ${Date.now()}` }] });
    const cfg = JSON.parse(m.blobs[0]!.bytes.toString("utf8")) as Record<string, unknown>;
    const n = 20_000;
    const cfgBytes = Buffer.from(JSON.stringify({ ...cfg, history: ["@@"] }).replace('"@@"', "[".repeat(n) + "]".repeat(n)));
    const man = JSON.parse(m.manifest.toString("utf8")) as { config: { digest: string; size: number } };
    man.config = { ...man.config, digest: sha256Digest(cfgBytes), size: cfgBytes.byteLength };
    const manBytes = Buffer.from(JSON.stringify(man));
    const deep = {
      ...m,
      manifest: manBytes,
      digest: sha256Digest(manBytes),
      blobs: [{ digest: sha256Digest(cfgBytes), bytes: cfgBytes }, ...m.blobs.slice(1)],
    };
    await pushImage(client, repo, deep, ["latest"]);
    const run = await syncRegistry({ actor: system, registry: "default" });
    expect(run.errors.filter((e) => e.repository === repo)).toEqual([]);
    const after = await evaluateImage({ image: `${host}/${repo}:latest`, stage: "test", refuseTags: false });
    expect({ digest: after.digest, allowed: after.allowed }).toEqual({ digest: deep.digest, allowed: false });
    const row = await db.image.findFirstOrThrow({ where: { digest: deep.digest } });
    expect(row.history).toBeNull();
  });
});
