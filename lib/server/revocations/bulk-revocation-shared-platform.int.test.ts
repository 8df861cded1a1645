import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { syncRegistry } from "../images/sync-registry";
import { upsertGroup } from "../groups/upsert-group";
import { upsertStage } from "../stages/upsert-stage";
import { runBulkRevocation } from "./run-bulk-revocation";
import { startBulkRevocation } from "./start-bulk-revocation";

// Found by review: a bulk revocation followed images.parent_digest from a platform manifest the search found to the
// index that covers it. That column holds only the first index the manifest was seen under, so a second index sharing
// the same platform build kept its approvals, still admitting the vulnerable platform through its index digest.

const system: Actor = { kind: "system", label: "shared-platform-test" };
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertStage({ actor: system, name: "build", settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: {} } });
});
afterAll(async () => {
  await disconnectDb();
});

describe("bulk revocation of a platform manifest two indexes share", () => {
  it("plans and revokes the approvals of every index whose platform list names the manifest, not only its first parent", async () => {
    const repo = "shared/app";
    const salt = randomUUID();
    const amd = buildImage({ architecture: "amd64", layers: [{ "app.txt": `amd ${salt}` }] });
    const arm1 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm1 ${salt}` }] });
    const arm2 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm2 ${salt}` }] });
    const other = buildImage({ architecture: "amd64", layers: [{ "app.txt": `other ${salt}` }] });
    const first = await pushIndex(client, repo, [amd, arm1], ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    // v1.0.1: the same amd64 build with a rebuilt arm64, as a multi-arch tag is often re-published.
    const second = await pushIndex(client, repo, [amd, arm2], ["v1.0.1"]);
    // An index of the same repository without the amd64 build: not covering it, not planned.
    const unrelated = await pushIndex(client, repo, [other, arm2], ["v2"]);
    await syncRegistry({ actor: system, registry: "default" });
    const platform = await db.image.findFirstOrThrow({ where: { digest: amd.digest, repository: { name: repo } } });
    // The column the old plan followed names the first index only.
    expect(platform.parentDigest).toBe(first);

    // CI uploads the amd64 SBOM for the amd64 manifest.
    const sbom = {
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      version: 1,
      components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20" }],
    };
    await ingestEvidence({ actor: system, imageId: platform.id, bytes: Buffer.from(JSON.stringify(sbom)), source: "upload" });
    const alice = await userActor("alice@example.com");
    const approve = (digest: typeof first) => requestAndApprove({ actor: alice, registry: "default", repository: repo, digest, stage: "build", comment: "ok" });
    const a = await approve(first);
    const b = await approve(second);
    const c = await approve(unrelated);

    const options = { actor: alice, query: "lodash < 4.17.21", stages: ["build"], reason: "CVE-2021-23337" };
    const dry = await startBulkRevocation({ ...options, dryRun: true });
    expect(dry.items.map((i) => [i.approvalId, i.digest, i.viaIndexOf]).sort()).toEqual(
      [
        [a.id, first, amd.digest],
        [b.id, second, amd.digest],
      ].sort(),
    );
    expect(dry.items.some((i) => i.approvalId === c.id)).toBe(false);

    // The real plan is made the same way, and the job revokes both.
    const started = await startBulkRevocation({ ...options, dryRun: false, expectApprovals: dry.items.map((i) => i.approvalId) });
    expect(started).toMatchObject({ dryRun: false, status: "queued", approvals: 2 });
    expect(await runBulkRevocation({ id: (started as { id: string }).id })).toMatchObject({ status: "done", done: 2, failed: 0 });
    for (const id of [a.id, b.id]) expect((await db.approval.findUniqueOrThrow({ where: { id } })).revokedAt).not.toBeNull();
    expect((await db.approval.findUniqueOrThrow({ where: { id: c.id } })).revokedAt).toBeNull();
  });
});
