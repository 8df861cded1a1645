import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { syncRegistry } from "../images/sync-registry";
import { ingestEvidence } from "./ingest-evidence";
import { searchPackages } from "./search-packages";
import { withdrawEvidence } from "./withdraw-evidence";

// Found by review: the fleet search's summary (package-index.ts) found each component's package_versions row by
// a join on its five columns, which the planner ran as a scan of every version of the component's name, once per
// component: an SBOM of 20,000 components of one name took minutes to ingest (10,000: 30-45 s; distinct names: 2 s).
// Each distinct key is now one probe of the unique key_hash index. No timing is asserted: 20,000 components of one
// name must simply fit in the test's minute, which the old join took more than twice over.

const system: Actor = { kind: "system", label: "package-index-same-name-test" };
const COMPONENTS = 20_000;

beforeAll(async () => {
  await seedUsers();
});
afterAll(async () => {
  await disconnectDb();
});

describe("the package index of an SBOM whose components share one name", () => {
  it(
    `indexes and unindexes ${COMPONENTS} versions of one package, each version once`,
    async () => {
      const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
      const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `same-name ${randomUUID()}` }] });
      await pushImage(client, "same/name", img, ["v1"]);
      await syncRegistry({ actor: system, registry: "default" });
      const image = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: "same/name" } } });
      // Every version twice (a repeated key costs once), and one component without a version or purl.
      const components = [
        ...Array.from({ length: COMPONENTS }, (_, i) => ({ type: "library", name: "Wombat", version: `1.0.${i}`, purl: `pkg:npm/wombat@1.0.${i}` })),
        ...Array.from({ length: 100 }, (_, i) => ({ type: "library", name: "wombat", version: `1.0.${i}`, purl: `pkg:npm/wombat@1.0.${i}` })),
        { type: "library", name: "wombat" },
      ];
      const bom = { bomFormat: "CycloneDX", specVersion: "1.5", version: 1, serialNumber: `urn:uuid:${randomUUID()}`, components };
      const dev = await userActor("dev@example.com");
      const admin = await userActor("admin@example.com");
      const { document } = await ingestEvidence({ actor: dev, imageId: image.id, bytes: Buffer.from(JSON.stringify(bom)), source: "upload" });

      const indexed = await db.$queryRaw<{ versions: number; pairs: number }[]>`
        SELECT (SELECT count(*)::int FROM package_versions WHERE name_key = 'wombat') AS versions,
               (SELECT count(*)::int FROM package_images WHERE image_id = ${image.id}::uuid) AS pairs`;
      expect(indexed[0]).toEqual({ versions: COMPONENTS + 1, pairs: COMPONENTS + 1 });
      const found = await searchPackages({ actor: dev, q: `wombat >= 1.0.${COMPONENTS - 1}` });
      expect(found.results.map((r) => [r.digest, r.versions])).toEqual([[img.digest, [`1.0.${COMPONENTS - 1}`]]]);

      await withdrawEvidence({ actor: admin, documentId: document.id, reason: "wrong image" });
      expect(await db.packageImage.count({ where: { imageId: image.id } })).toBe(0);
      expect((await searchPackages({ actor: dev, q: "wombat" })).total).toBe(0);
    },
    // The integration default, spelt out: what this test is about.
    60_000,
  );
});
