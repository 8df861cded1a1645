// Disabling an account is the strongest sanction short of deleting it: found by review, two credentials outlived it.
// A client certificate authenticated again once the account was enabled (tokens stay revoked), and a bulk revocation
// the disabled person had started ran on as the system actor, with every right.
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { peerStamped, selfSignedClientCert } from "../../../scripts/test-harness/client-cert";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { actorForToken } from "../auth/authenticate";
import { actorForClientCert } from "../auth/client-cert";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { confirmBulkRevocation } from "../revocations/confirm-bulk-revocation";
import { runBulkRevocation } from "../revocations/run-bulk-revocation";
import { startBulkRevocation } from "../revocations/start-bulk-revocation";
import { upsertStage } from "../stages/upsert-stage";
import { createToken } from "../tokens/create-token";
import { registerClientCert } from "../users/register-client-cert";
import { updateUser } from "../users/update-user";

const system: Actor = { kind: "system", label: "account-sanctions" };

beforeAll(async () => {
  await seedUsers();
});
afterAll(async () => {
  delete process.env.IMPRIMATUR_TRUSTED_PROXIES;
  delete process.env.BULK_REVOCATION_TWO_PERSON;
  resetEnvCache();
  await disconnectDb();
});

describe("disabling an account", () => {
  it("revokes its client certificates with its tokens: enabling it again brings back neither", async () => {
    const secret = randomBytes(32);
    const { pem, fingerprint } = selfSignedClientCert();
    process.env.IMPRIMATUR_TRUSTED_PROXIES = "10.0.0.0/8";
    resetEnvCache();
    (globalThis as { __imprimaturPeerSecret?: Buffer }).__imprimaturPeerSecret = secret;
    const headers = () => peerStamped(secret, "10.0.0.5", { "x-forwarded-client-cert": `Hash=${fingerprint.slice("sha256:".length)}` });

    await registerClientCert({ actor: system, email: "dev@example.com", pem });
    const { token } = await createToken({ actor: system, email: "dev@example.com", scopes: ["read"] });
    expect((await actorForClientCert(headers()))?.actor).toBeTruthy();
    await updateUser({ actor: system, email: "dev@example.com", disabled: true });
    expect((await actorForClientCert(headers()))?.actor ?? null).toBeNull();
    await updateUser({ actor: system, email: "dev@example.com", disabled: false });
    expect(await actorForToken(token)).toBeNull();
    expect((await actorForClientCert(headers()))?.actor ?? null, "the certificate authenticated again after the enable").toBeNull();
    const ev = await db.auditEvent.findFirstOrThrow({ where: { action: "user.disable", target: "dev@example.com" }, orderBy: { seq: "desc" } });
    expect(ev.detail).toMatchObject({ revokedTokens: 1, revokedCertificates: 1 });
  });

  it("fails the items of a bulk revocation the account started: nothing is revoked in its name", async () => {
    await seedStages(["build"]);
    await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
    await upsertStage({ actor: system, name: "build", settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: {} } });
    const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
    const img = buildImage({ architecture: "amd64", layers: [{ "a.txt": `bulk ${Date.now()}` }] });
    await pushImage(client, "team/sanctions", img, ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const row = await db.image.findFirstOrThrow({ where: { digest: img.digest } });
    const sbom = {
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20" }],
    };
    await ingestEvidence({ actor: system, imageId: row.id, bytes: Buffer.from(JSON.stringify(sbom)), source: "upload" });
    const a = await requestAndApprove({
      actor: await userActor("bob@example.com"),
      registry: "default",
      repository: "team/sanctions",
      digest: img.digest,
      stage: "build",
      comment: "ok",
    });

    process.env.BULK_REVOCATION_TWO_PERSON = "1";
    resetEnvCache();
    const started = (await startBulkRevocation({
      actor: await userActor("alice@example.com"),
      query: "lodash < 4.17.21",
      stages: ["build"],
      reason: "rogue",
      dryRun: false,
    })) as { id: string };
    await updateUser({ actor: system, email: "alice@example.com", disabled: true });
    try {
      await confirmBulkRevocation({ actor: await userActor("carol@example.com"), id: started.id });
      const run = await runBulkRevocation({ id: started.id });
      expect(run).toMatchObject({ status: "done", done: 0, failed: 1 });
      expect((await db.approval.findUniqueOrThrow({ where: { id: a.id } })).revokedAt, "revoked by the system in a disabled account's name").toBeNull();
      const outcomes = (await db.bulkRevocation.findUniqueOrThrow({ where: { id: started.id } })).outcomes as Record<string, string>;
      expect(outcomes[a.id]).toMatch(/^failed: alice@example\.com.* is disabled/);
    } finally {
      await updateUser({ actor: system, email: "alice@example.com", disabled: false });
    }
  });
});
