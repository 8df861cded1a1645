// Security review 14, finding: for an index, a scan naming any one of its platform manifests counts as the index's
// scan. The findings gate ("no scan at all fails") then passes an index whose other platforms were never scanned:
// the developer who assembles the index adds an arm64 image nobody looked at next to the amd64 one CI scanned (Trivy
// scans one platform of an index: the host's), and admission allows the index digest, arm64 nodes included.
// The test asserts that every platform needs a scan; it fails on the current code.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushIndex } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { upsertGroup } from "../groups/upsert-group";
import { syncRegistry } from "../images/sync-registry";
import { requestPromotion } from "./request-promotion";
import { reviewRequest } from "./review-request";
import { upsertStage } from "../stages/upsert-stage";

const system: Actor = { kind: "system", label: "review14" };
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test"]);
  await upsertGroup({ actor: system, name: "security", members: ["alice@example.com", "bob@example.com"] });
  await upsertStage({
    actor: system,
    name: "test",
    settings: { requiredApprovals: 1, reviewerGroups: ["security"], gates: { findings: { max: { critical: 0, high: 0 }, count: "all" } } },
  });
});

afterAll(async () => {
  await disconnectDb();
});

describe("an index's gates and its platforms (review 14)", () => {
  it("a scan of one platform does not satisfy the findings gate of an index whose other platform was never scanned", async () => {
    const repo = `r14idx/app-${randomUUID().slice(0, 8)}`;
    const amd64 = buildImage({ architecture: "amd64", layers: [{ "app.txt": `amd64 ${Date.now()}` }] });
    const arm64 = buildImage({ architecture: "arm64", layers: [{ "app.txt": `arm64, never scanned ${Date.now()}` }] });
    const index = await pushIndex(client, repo, [amd64, arm64], ["v1"]);
    await syncRegistry({ actor: system, registry: "default" });
    const row = await db.image.findFirstOrThrow({ where: { digest: index, repository: { name: repo } } });

    // CI scans the amd64 image (what `trivy image` does on an amd64 runner) and files it on the index: accepted,
    // since the document names one of the index's platforms.
    const scan = Buffer.from(
      JSON.stringify({
        SchemaVersion: 2,
        ArtifactName: `${repo}@${amd64.digest}`,
        ArtifactType: "container_image",
        Metadata: { RepoDigests: [`${repo}@${amd64.digest}`] },
        Results: [],
      }),
    );
    await ingestEvidence({ actor: await userActor("admin@example.com"), imageId: row.id, bytes: scan, source: "upload" });

    const req = await requestPromotion({
      actor: await userActor("dev@example.com"),
      repository: repo,
      digest: index as Digest,
      stage: "test",
      note: "multi-arch",
    });
    const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId: req.id, decision: "approve", comment: "scan is clean" }).then(
      (o) => o.status,
      (e: { code?: string }) => e.code,
    );
    // Expected: POLICY_VIOLATION (no scan covers linux/arm64). Actual: signed on the strength of the amd64 scan alone.
    // What admission then says about the arm64 image itself (a platform manifest is judged by its index's approval).
    const arm64Admitted = (
      await evaluateImage({ image: `${new URL(process.env.REGISTRY_URL!).host}/${repo}@${arm64.digest}`, stage: "test", refuseTags: true })
    ).allowed;
    expect({ outcome, arm64Admitted }, "the index was approved although its arm64 platform was never scanned").toEqual({
      outcome: "POLICY_VIOLATION",
      arm64Admitted: false,
    });
  });
});
