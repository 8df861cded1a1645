// Advisories that matched wrongly or could be pinned. Found by review: an advisory listing one package in several
// `affected` entries (one per vulnerable line of versions) gave a version in its second entry no finding; and a record
// "modified" far in the future outranked every later, genuine version of itself, so one import could withdraw an
// advisory's findings for good. Each test asserts the safe outcome.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { syncRegistry } from "../images/sync-registry";
import { importAdvisories } from "./import-advisories";

const system: Actor = { kind: "system", label: "advisory-hostile" };
let imageId: string;

beforeAll(async () => {
  await seedUsers();
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `advisory ${Date.now()}` }] });
  await pushImage(client, "advisory/hostile", img, ["v1"]);
  await syncRegistry({ actor: system, registry: "default" });
  imageId = (await db.image.findFirstOrThrow({ where: { digest: img.digest } })).id;
  const comp = { type: "library", name: "lodash", version: "4.17.0", purl: "pkg:npm/lodash@4.17.0", "bom-ref": "pkg:npm/lodash@4.17.0" };
  await ingestEvidence({
    actor: system,
    imageId,
    bytes: Buffer.from(
      JSON.stringify({ bomFormat: "CycloneDX", specVersion: "1.4", version: 1, serialNumber: `urn:uuid:${randomUUID()}`, components: [comp] }),
    ),
    source: "upload",
  });
});
afterAll(async () => disconnectDb());

const entry = (introduced: string, fixed: string) => ({
  package: { ecosystem: "npm", name: "lodash" },
  ranges: [{ type: "ECOSYSTEM", events: [{ introduced }, { fixed }] }],
});
const record = (id: string, over: Record<string, unknown> = {}) => ({
  id,
  modified: "2024-01-01T00:00:00Z",
  summary: "x",
  affected: [entry("4.0.0", "4.17.21")],
  ...over,
});
const importOne = (rec: object) => importAdvisories({ actor: system, origin: "test", bytes: Buffer.from(JSON.stringify(rec)) });

describe("an advisory listing the same package in several affected entries", () => {
  for (const [id, affected] of [
    ["GHSA-test-0000-0001", [entry("4.0.0", "4.17.21"), entry("0", "1.0.0")]],
    ["GHSA-test-0000-0002", [entry("0", "1.0.0"), entry("4.0.0", "4.17.21")]],
  ] as const) {
    it(`matches a version in any of them, whatever their order (${id})`, async () => {
      await importOne(record(id, { affected }));
      expect(await db.finding.count({ where: { imageId, advisoryId: id } })).toBe(1);
    });
  }
});

describe("a record whose times lie in the future", () => {
  it("is refused, naming the record and the field, and the stored record and its findings stay", async () => {
    const id = "GHSA-test-0000-0003";
    await importOne(record(id));
    expect(await db.finding.count({ where: { imageId, advisoryId: id } })).toBe(1);
    for (const over of [{ modified: "9999-12-31T23:59:59Z", withdrawn: "9999-12-31T23:59:59Z" }, { published: "9999-01-01T00:00:00Z" }]) {
      await expect(importOne(record(id, over))).rejects.toMatchObject({
        code: "INVALID_INPUT",
        message: expect.stringMatching(new RegExp(`record ${id}: (modified|published) 9999-.* is in the future`)),
      });
    }
    expect(await db.finding.count({ where: { imageId, advisoryId: id } })).toBe(1);
    // A genuinely newer record still replaces it.
    const r = await importOne(record(id, { modified: "2024-06-01T00:00:00Z", withdrawn: "2024-06-01T00:00:00Z" }));
    expect(r).toMatchObject({ updated: 1 });
    expect(await db.finding.count({ where: { imageId, advisoryId: id } })).toBe(0);
  });

  it("one stored before such records were refused outranks nothing: the genuine record replaces it", async () => {
    const id = "GHSA-test-0000-0004";
    await importOne(record(id));
    expect(await db.finding.count({ where: { imageId, advisoryId: id } })).toBe(1);
    await db.advisory.update({ where: { id }, data: { modified: new Date("9999-12-31T23:59:59Z"), withdrawn: new Date("9999-12-31T23:59:59Z") } });
    expect(await importOne(record(id, { modified: "2024-06-01T00:00:00Z", summary: "genuine" }))).toMatchObject({ updated: 1 });
    expect((await db.advisory.findUniqueOrThrow({ where: { id } })).modified.toISOString()).toBe("2024-06-01T00:00:00.000Z");
  });
});
