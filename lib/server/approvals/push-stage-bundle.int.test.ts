import { readFileSync } from "node:fs";
import { bundleFromJSON } from "@sigstore/bundle";
import { toSignedEntity, Verifier } from "@sigstore/verify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { listReferrers } from "../../oci/referrers";
import { parsePublicKey } from "../../signing/keys/software";
import { toSigstoreTrustMaterial } from "../../signing/trust/sigstore-root";
import { EMPTY_TRUST } from "../../signing/verification";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { createTrustIdentity } from "../trust/create-trust-identity";
import { updateTrustIdentity } from "../trust/update-trust-identity";
import { stopBoss } from "../jobs/boss";
import { pushStageBundle } from "./push-stage-bundle";

const admin: Actor = { kind: "system", label: "bundle-test" };
const REPO = "bundle-test/app";
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

describe("a stage that emits Sigstore bundles", () => {
  it("pushes a v0.3 key-based bundle as a referrer through the tag fallback, and @sigstore/verify accepts it as read back", async () => {
    await db.stage.update({ where: { name: "test" }, data: { emitBundle: true } });
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `bundle ${Date.now()}` }] });
    await pushImage(client, REPO, img, ["1.0"]);
    await syncRegistry({ actor: admin, registry: "default" });
    const approval = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: REPO,
      digest: img.digest,
      stage: "test",
      comment: "bundle please",
    });

    const out = await pushStageBundle({ approvalId: approval.id });
    expect(out.status).toBe("pushed");
    if (out.status !== "pushed") return;
    // Distribution 2.8 has no referrers API: the fallback tag sha256-<hex> lists it.
    expect(out.pushedVia).toBe("referrers-tag");
    const again = await pushStageBundle({ approvalId: approval.id });
    expect(again).toMatchObject({ status: "pushed", existing: true, artifactDigest: out.artifactDigest });

    // Read back from the registry as any client would: referrers (tag schema) → manifest → bundle blob.
    const refs = await listReferrers(client, REPO, img.digest as Digest);
    const ref = refs.find((r) => r.artifactType === MT.sigstoreBundleV03);
    expect(ref?.digest).toBe(out.artifactDigest);
    expect(ref?.source).toBe("referrers-tag");
    const m = parseManifest((await client.getManifest(REPO, ref!.digest)).bytes);
    if (m.kind !== "manifest") throw new Error("expected a manifest");
    expect(m.manifest.subject?.digest).toBe(img.digest);
    const layer = m.manifest.layers[0]!;
    expect(layer.mediaType).toBe(MT.sigstoreBundleV03);
    const bytes = await client.getBlob(REPO, layer.digest as Digest);
    const json = JSON.parse(bytes.toString("utf8")) as Record<string, unknown>;
    expect(json.mediaType).toBe(MT.sigstoreBundleV03);

    // The Sigstore project's own verifier, with the stage key as the only trust and no log, as the issue requires.
    const key = await db.signingKey.findUniqueOrThrow({ where: { id: (await db.approval.findUniqueOrThrow({ where: { id: approval.id } })).signingKeyId } });
    const info = parsePublicKey(key.publicKeyPem);
    const trust = toSigstoreTrustMaterial({
      ...EMPTY_TRUST,
      keys: [{ name: key.name, fingerprint: info.fingerprint, key: info.key, algorithm: info.algorithm }],
    });
    const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    const signer = verifier.verify(toSignedEntity(bundleFromJSON(json)));
    expect(signer.key.export({ type: "spki", format: "der" }).equals(info.key.export({ type: "spki", format: "der" }))).toBe(true);
    // The statement is about this digest.
    const envelope = json.dsseEnvelope as { payload: string };
    const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString("utf8")) as {
      subject: { digest: { sha256: string } }[];
      predicateType: string;
    };
    expect(statement.subject[0]!.digest.sha256).toBe(img.digest.slice("sha256:".length));
    expect(statement.predicateType).toBe("https://sigstore.dev/cosign/sign/v1");

    // Tampering is refused by the same verifier.
    const tampered = structuredClone(json) as { dsseEnvelope: { payload: string } };
    tampered.dsseEnvelope.payload = Buffer.from(JSON.stringify({ ...statement, subject: [{ digest: { sha256: "0".repeat(64) } }] })).toString("base64");
    expect(() => verifier.verify(toSignedEntity(bundleFromJSON(tampered)))).toThrow();

    // Recorded, audited, and shown in the chain as a verified stage signature in the bundle format.
    const row = await db.stageBundle.findUniqueOrThrow({ where: { approvalId: approval.id } });
    expect(row).toMatchObject({ artifactDigest: out.artifactDigest, pushedVia: "referrers-tag" });
    expect(await db.auditEvent.count({ where: { action: "bundle.push", targetDigest: img.digest } })).toBe(1);
    const sig = await db.signature.findFirstOrThrow({ where: { artifactDigest: out.artifactDigest } });
    expect(sig).toMatchObject({ format: "sigstore-bundle", verdict: "verified", role: "stage", timeKind: "trusted" });

    // Thresholds come from the trust configuration: Sigstore material that demands a log entry for this repository
    // makes the log-less bundle unverified, naming the check; lifting the threshold verifies it again.
    await createTrustIdentity({
      actor: admin,
      input: {
        name: "public-good",
        kind: "sigstore",
        role: "team",
        scope: ["bundle-test/**"],
        trustedRoot: readFileSync("lib/signing/testdata/sigstore-public-good-trusted-root.json", "utf8"),
        anyIdentityUnderRoot: true,
        thresholds: { tlog: 1 },
      },
    });
    await syncRegistry({ actor: admin, registry: "default" });
    const strict = await db.signature.findFirstOrThrow({ where: { artifactDigest: out.artifactDigest } });
    expect(strict.verdict).toBe("unverified");
    expect((strict.checks as { check: string; passed: boolean | null }[]).find((c) => c.passed === false)?.check).toBe("transparency log entries");
    await expect(
      createTrustIdentity({
        actor: admin,
        input: { name: "key-with-thresholds", kind: "key", role: "team", publicKeyPem: key.publicKeyPem, thresholds: { tlog: 0 } },
      }),
    ).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await updateTrustIdentity({ actor: admin, name: "public-good", input: { thresholds: null } });
    await syncRegistry({ actor: admin, registry: "default" });
    expect((await db.signature.findFirstOrThrow({ where: { artifactDigest: out.artifactDigest } })).verdict).toBe("verified");
  });

  it("does nothing for a stage that does not emit bundles", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `no bundle ${Date.now()}` }] });
    await pushImage(client, REPO, img, ["2.0"]);
    await syncRegistry({ actor: admin, registry: "default" });
    const approval = await requestAndApprove({
      actor: await userActor("alice@example.com"),
      repository: REPO,
      digest: img.digest,
      stage: "build",
      comment: "no bundle",
    });
    expect(await pushStageBundle({ approvalId: approval.id })).toMatchObject({ status: "skipped" });
    expect(await db.stageBundle.count({ where: { approvalId: approval.id } })).toBe(0);
  });
});
