import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { callRoute } from "../../../scripts/test-harness/routes";
import * as revocationsRoute from "../../../app/api/v1/revocations/route";
import * as searchRoute from "../../../app/api/v1/search/packages/route";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { searchPackages } from "../evidence/search-packages";
import { syncRegistry } from "../images/sync-registry";
import { upsertGroup } from "../groups/upsert-group";
import { upsertStage } from "../stages/upsert-stage";
import { createToken } from "../tokens/create-token";
import { startBulkRevocation } from "./start-bulk-revocation";

// Found by review: the fleet search reads at most 100,000 package versions of a name and says `truncated`, but a bulk
// revocation ignored that and planned from the partial list; the images past the limit (all of them, in the review's
// case) silently kept their approvals. A plan from a truncated search is now refused whole.

const system: Actor = { kind: "system", label: "truncated-search-test" };
let client: RegistryClient;
let n = 0;

async function image(repo: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${randomUUID()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { id: row.id, digest: img.digest as Digest };
}

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

describe("a bulk revocation from a fleet search cut at its version limit", () => {
  it("is refused (422 naming the query), dry run and real, and the search page's API says the list is incomplete", async () => {
    const victim = await image("trunc/victim");
    const sbom = {
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      version: 1,
      components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20" }],
    };
    await ingestEvidence({ actor: system, imageId: victim.id, bytes: Buffer.from(JSON.stringify(sbom)), source: "upload" });
    const alice = await userActor("alice@example.com");
    const a = await requestAndApprove({ actor: alice, registry: "default", repository: "trunc/victim", digest: victim.digest, stage: "build", comment: "ok" });
    const options = { actor: alice, query: "lodash < 4.17.21", stages: ["build"], reason: "CVE-2021-23337" };
    // 100,000 more "lodash" versions, as SBOM uploads leave them in package_versions (written in SQL to save the
    // ingest time). While no image has them (their evidence withdrawn), the search does not read them: the plan
    // lists the approval.
    await db.$executeRawUnsafe(`
      INSERT INTO package_versions (key_hash, name_key, purl_key, ecosystem, version, purl)
      SELECT imprimatur_package_key('lodash', 'pkg:npm/x' || i, 'npm', '99.0.' || i, 'pkg:npm/x' || i || '@99.0.' || i),
             'lodash', 'pkg:npm/x' || i, 'npm', '99.0.' || i, 'pkg:npm/x' || i || '@99.0.' || i
      FROM generate_series(1, 100000) i`);
    await db.$executeRawUnsafe(`ANALYZE package_versions`);
    expect((await searchPackages({ actor: alice, q: "lodash < 4.17.21" })).truncated).toBe(false);
    expect((await startBulkRevocation({ ...options, dryRun: true })).items.map((i) => i.approvalId)).toEqual([a.id]);

    // An image that has them all: the search stops at its limit.
    const filler = await image("trunc/filler");
    await db.$executeRaw`
      INSERT INTO package_images (package_version_id, image_id)
      SELECT id, ${filler.id}::uuid FROM package_versions WHERE name_key = 'lodash' AND version LIKE '99.0.%'`;
    await db.$executeRawUnsafe(`ANALYZE package_images`);
    expect((await searchPackages({ actor: alice, q: "lodash < 4.17.21" })).truncated).toBe(true);
    const before = { revocations: await db.bulkRevocation.count(), audit: await db.auditEvent.count() };
    for (const dryRun of [true, false]) {
      await expect(startBulkRevocation({ ...options, dryRun })).rejects.toMatchObject({
        code: "INVALID_INPUT",
        field: "query",
        message: expect.stringMatching(/"lodash < 4\.17\.21".*narrow the query/),
      });
      // Choosing the found image does not make the list whole either.
      await expect(
        startBulkRevocation({ ...options, dryRun, images: [{ registry: "default", repository: "trunc/victim", digest: victim.digest }] }),
      ).rejects.toMatchObject({ code: "INVALID_INPUT", field: "query" });
    }
    expect({ revocations: await db.bulkRevocation.count(), audit: await db.auditEvent.count() }).toEqual(before);
    expect((await db.approval.findUniqueOrThrow({ where: { id: a.id } })).revokedAt).toBeNull();

    // Over HTTP: the revocation is a 422 naming the query; the search says `truncated` (JSON) or in a header (CSV).
    const token = (await createToken({ actor: alice, email: "alice@example.com", name: "truncated-search" })).token;
    const res = await callRoute(revocationsRoute.POST as never, {
      method: "POST",
      template: "/api/v1/revocations",
      body: { query: "lodash < 4.17.21", stages: ["build"], reason: "CVE-2021-23337", dryRun: true },
      token,
    });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/narrow the query/);
    const q = `q=${encodeURIComponent("lodash < 4.17.21")}`;
    const json = await callRoute(searchRoute.GET as never, { method: "GET", template: "/api/v1/search/packages", query: q, token });
    expect(json.status).toBe(200);
    expect(((await json.json()) as { truncated: boolean }).truncated).toBe(true);
    const csv = await callRoute(searchRoute.GET as never, { method: "GET", template: "/api/v1/search/packages", query: `${q}&format=csv`, token });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("x-imprimatur-truncated")).toBe("true");
  }, 300_000);
});
