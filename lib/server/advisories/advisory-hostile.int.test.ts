// Advisories that matched wrongly or could be pinned. Found by review: an advisory listing one package in several
// `affected` entries (one per vulnerable line of versions) gave a version in its second entry no finding; and a record
// "modified" far in the future outranked every later, genuine version of itself, so one import could withdraw an
// advisory's findings for good. Each test asserts the safe outcome.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { db, disconnectDb } from "../../db";
import { resetEnvCache } from "../../env";
import { writeZip } from "../../evidence/zip-writer";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { syncRegistry } from "../images/sync-registry";
import { downloadAdvisories, runAdvisoryFeed } from "./fetch-advisory-feed";
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

/** A local HTTP server answering each path with a status, headers and body. */
async function serve(
  routes: Record<string, { status?: number; headers?: Record<string, string>; body?: Buffer }>,
): Promise<{ url: string; server: Server; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? "");
    const r = routes[req.url ?? ""];
    if (!r) return res.writeHead(404).end();
    res.writeHead(r.status ?? 200, r.headers ?? {}).end(r.body ?? "");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, hits };
}

describe("the scheduled feed refuses a bad record alone", () => {
  // Review: one record a publisher got wrong (a time ahead of the clock, broken JSON, a malformed record) refused the
  // whole archive, so the feed stopped delivering every other advisory, new CVEs included, until the publisher fixed it.
  const good = record("GHSA-test-0000-0005");
  const zip = writeZip([
    { name: "GHSA-test-0000-0005.json", data: Buffer.from(JSON.stringify(good)) },
    { name: "GHSA-test-0000-0006.json", data: Buffer.from(JSON.stringify(record("GHSA-test-0000-0006", { modified: "9999-01-01T00:00:00Z" }))) },
    { name: "GHSA-test-0000-0007.json", data: Buffer.from('{"id": "GHSA-test-0000-0007", "modified": ') },
    { name: "GHSA-test-0000-0008.json", data: Buffer.from(JSON.stringify({ id: "GHSA-test-0000-0008", affected: "not a list" })) },
  ]);

  it("an upload of the same archive is still refused whole, naming the first bad record, and nothing is stored", async () => {
    await expect(importAdvisories({ actor: system, origin: "upload", bytes: zip })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringMatching(/GHSA-test-0000-000[678]/),
    });
    expect(await db.advisory.count({ where: { id: { startsWith: "GHSA-test-0000-000" }, AND: { id: { gte: "GHSA-test-0000-0005" } } } })).toBe(0);
  });

  it("the feed, through a redirect, imports the good record and names each refused one in the result and the audit event", async () => {
    const { url, server } = await serve({ "/feed": { status: 302, headers: { location: "/npm/all.zip" } }, "/npm/all.zip": { body: zip } });
    process.env.ADVISORY_FEED_URL = `${url}/feed`;
    resetEnvCache();
    try {
      const r = await runAdvisoryFeed();
      expect(r).toMatchObject({ records: 4, created: 1, refused: 3 });
      expect(r!.refusedRecords.map((x) => x.record).sort()).toEqual(["GHSA-test-0000-0006.json", "GHSA-test-0000-0007.json", "GHSA-test-0000-0008.json"]);
      const why = Object.fromEntries(r!.refusedRecords.map((x) => [x.record, x.reason]));
      expect(why["GHSA-test-0000-0006.json"]).toMatch(/modified 9999-01-01T00:00:00.000Z is in the future/);
      expect(why["GHSA-test-0000-0007.json"]).toMatch(/not valid JSON/);
      expect(why["GHSA-test-0000-0008.json"]).toMatch(/affected/);
    } finally {
      delete process.env.ADVISORY_FEED_URL;
      resetEnvCache();
      server.close();
    }
    expect(await db.advisory.findUnique({ where: { id: "GHSA-test-0000-0005" } })).not.toBeNull();
    expect(await db.advisory.count({ where: { id: { in: ["GHSA-test-0000-0006", "GHSA-test-0000-0007", "GHSA-test-0000-0008"] } } })).toBe(0);
    expect(await db.finding.count({ where: { imageId, advisoryId: "GHSA-test-0000-0005" } })).toBe(1);
    const ev = await db.auditEvent.findFirstOrThrow({ where: { action: "advisory.import", actorLabel: "system:advisory-feed" }, orderBy: { seq: "desc" } });
    expect(ev.detail).toMatchObject({ created: 1, refused: 3 });
    expect((ev.detail as { refusedRecords: { record: string }[] }).refusedRecords.map((x) => x.record).sort()).toEqual([
      "GHSA-test-0000-0006.json",
      "GHSA-test-0000-0007.json",
      "GHSA-test-0000-0008.json",
    ]);
  });

  it("an archive whose every record is bad is refused whole", async () => {
    const bad = writeZip([
      { name: "a.json", data: Buffer.from("{") },
      { name: "b.json", data: Buffer.from(JSON.stringify(record("GHSA-test-0000-0009", { published: "9999-01-01T00:00:00Z" }))) },
    ]);
    await expect(importAdvisories({ actor: system, origin: "feed", bytes: bad, skipBadRecords: true })).rejects.toMatchObject({
      code: "INVALID_INPUT",
      message: expect.stringMatching(/every record was refused \(2\)/),
    });
  });
});

describe("the advisory download", () => {
  // Review: the download followed redirects with fetch's defaults, so a feed server (or whoever answers for its name)
  // could send the server to the cloud's instance metadata.
  for (const target of [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fe80::1]/x",
  ]) {
    it(`refuses a redirect to ${new URL(target).hostname}`, async () => {
      const { url, server, hits } = await serve({ "/feed": { status: 301, headers: { location: target } } });
      try {
        await expect(downloadAdvisories(`${url}/feed`)).rejects.toMatchObject({
          code: "INVALID_INPUT",
          field: "url",
          message: expect.stringMatching(/metadata|link-local/),
        });
        expect(hits).toEqual(["/feed"]);
      } finally {
        server.close();
      }
    });
  }

  it("follows at most 5 redirects", async () => {
    const { url, server, hits } = await serve({ "/loop": { status: 302, headers: { location: "/loop" } } });
    try {
      await expect(downloadAdvisories(`${url}/loop`)).rejects.toMatchObject({
        code: "REGISTRY_UNAVAILABLE",
        message: expect.stringMatching(/more than 5 redirects/),
      });
      expect(hits).toHaveLength(6);
    } finally {
      server.close();
    }
  });
});
