import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parsePublicKey, verifyRaw } from "../../signing/keys/software";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { buildEvidencePack } from "./build-evidence-pack";
import { ingestEvidence } from "./ingest-evidence";

const system: Actor = { kind: "system", label: "test" };
const TRIVY = readFileSync(join(__dirname, "../../evidence/testdata/trivy-alpine-3.10-schema2.json"));
const REPO = `pack/app-${Date.now()}`;
let digest: Digest;

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${REPO}` }] });
  await pushImage(client, REPO, img, ["v1"]);
  await syncRegistry({ actor: system, registry: "default" });
  digest = img.digest;
  const row = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
  const scan = JSON.parse(TRIVY.toString("utf8"));
  scan.Metadata.ImageID = row.configDigest;
  await ingestEvidence({ actor: await userActor("dev@example.com"), imageId: row.id, bytes: Buffer.from(JSON.stringify(scan)), source: "upload" });
  await requestAndApprove({ actor: await userActor("alice@example.com"), registry: "default", repository: REPO, digest, stage: "build", comment: "ship it" });
});
afterAll(async () => {
  await disconnectDb();
});

describe("evidence pack", () => {
  it("holds the manifest, signed approvals checkable offline with its keys, requests and reviews, documents byte for byte and the image's audit events", async () => {
    const manager = await userActor("manager@example.com");
    const pack = JSON.parse(JSON.stringify(await buildEvidencePack({ actor: manager, registry: "default", repository: REPO, digest })));
    expect(pack.kind).toBe("dev.imprimatur.evidence-pack.v1");
    expect(pack.image.manifestSha256).toBe(digest);
    expect(`sha256:${createHash("sha256").update(pack.image.manifestBytes).digest("hex")}`).toBe(digest);

    // The stage signature verifies offline with the key shipped in the pack.
    expect(pack.approvals).toHaveLength(1);
    const a = pack.approvals[0];
    expect(a).toMatchObject({ stage: "build", approver: "alice@example.com", status: "signed" });
    const payload = Buffer.from(a.payloadBase64, "base64");
    expect(JSON.parse(payload.toString()).critical.image["docker-manifest-digest"]).toBe(digest);
    const key = pack.keys.signing.find((k: { fingerprint: string }) => k.fingerprint === a.key.fingerprint);
    expect(verifyRaw(parsePublicKey(key.publicKeyPem), payload, Buffer.from(a.signature, "base64"))).toBe(true);
    expect(verifyRaw(parsePublicKey(key.publicKeyPem), Buffer.concat([payload, Buffer.from(" ")]), Buffer.from(a.signature, "base64"))).toBe(false);

    expect(pack.requests).toHaveLength(1);
    expect(pack.requests[0]).toMatchObject({ stage: "build", requester: "dev@example.com", status: "signed" });
    expect(pack.requests[0].reviews.map((r: { reviewer: string; decision: string }) => [r.reviewer, r.decision])).toEqual([["alice@example.com", "approve"]]);

    expect(pack.evidence.documents).toHaveLength(1);
    const doc = pack.evidence.documents[0];
    expect(doc.kind).toBe("scan");
    expect(`sha256:${createHash("sha256").update(Buffer.from(doc.rawBase64, "base64")).digest("hex")}`).toBe(doc.contentDigest);

    const actions = pack.audit.events.map((e: { action: string }) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["evidence.upload", "request.create", "review.approve", "approval.create", "signature.push"]));
    expect(pack.audit.events.every((e: { targetDigest: string }) => e.targetDigest === digest)).toBe(true);
    expect(pack.audit.events.find((e: { action: string }) => e.action === "review.approve").sentence).toMatch(
      /^alice@example\.com approved pack\/app-\d+@sha256:[0-9a-f]{12}… for build/,
    );
  });

  it("keeps only documents within the size budget embedded and lists the rest", async () => {
    const pack = await buildEvidencePack({
      actor: await userActor("manager@example.com"),
      registry: "default",
      repository: REPO,
      digest,
      maxDocumentBytes: 10,
    });
    expect(pack.evidence.documents[0]).not.toHaveProperty("rawBase64");
    expect(pack.evidence.documents[0]).toHaveProperty("omitted");
  });

  it("is for admins and managers", async () => {
    await expect(buildEvidencePack({ actor: await userActor("dev@example.com"), registry: "default", repository: REPO, digest })).rejects.toMatchObject({
      code: "FORBIDDEN",
    });
  });
});
