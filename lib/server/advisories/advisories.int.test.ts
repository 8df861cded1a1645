import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import semver from "semver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { writeZip } from "../../evidence/zip-writer";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { getImageEvidence, parseEvidenceQuery } from "../evidence/get-image-evidence";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { syncRegistry } from "../images/sync-registry";
import { importAdvisories } from "./import-advisories";

const FIXTURE_PATH = "/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json";
const RAW = readFileSync(FIXTURE_PATH);
type Osv = {
  id: string;
  aliases: string[];
  modified: string;
  affected: { package: { ecosystem: string; name: string }; ranges: { type: string; events: Record<string, string>[] }[] }[];
};
const FIXTURE = JSON.parse(RAW.toString("utf8")) as Osv;
const system: Actor = { kind: "system", label: "advisories-test" };
let reviewer: Actor;
let n = 0;

type Comp = { name: string; version: string; purl: string };
function sbom(components: Comp[]) {
  return Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: components.map((c) => ({ type: "library", "bom-ref": c.purl, ...c })),
    }),
  );
}
const npm = (name: string, version: string): Comp => ({ name, version, purl: `pkg:npm/${name}@${version}` });

async function imageWith(repo: string, components: Comp[]) {
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  if (components.length) await ingestEvidence({ actor: system, imageId: row.id, bytes: sbom(components), source: "upload" });
  return { imageId: row.id, digest: img.digest, components };
}

/** Expected matches computed from the raw OSV JSON alone: npm ranges "introduced 0 / fixed X" → version < X. */
function expectedFor(osv: Osv, components: Comp[]) {
  const out: string[] = [];
  for (const a of osv.affected) {
    if (a.package.ecosystem !== "npm") continue;
    for (const c of components) {
      if (c.name !== a.package.name) continue;
      const hit = a.ranges.some((r) => {
        const intro = r.events.find((e) => e.introduced !== undefined)!.introduced!;
        const fixed = r.events.find((e) => e.fixed !== undefined)?.fixed;
        return (intro === "0" || semver.gte(c.version, intro)) && (!fixed || semver.lt(c.version, fixed));
      });
      if (hit) out.push(`${c.name}@${c.version}`);
    }
  }
  return out.sort();
}

async function advisoryFindings(imageId: string, id = FIXTURE.id) {
  return db.finding.findMany({ where: { imageId, advisoryId: id }, orderBy: [{ package: "asc" }, { installedVersion: "asc" }] });
}

const withId = (id: string, modified = FIXTURE.modified) => ({ ...FIXTURE, id, modified });

beforeAll(async () => {
  await seedUsers();
  reviewer = await userActor("alice@example.com");
});

afterAll(async () => {
  await disconnectDb();
});

describe("importing OSV advisories", () => {
  let a: Awaited<ReturnType<typeof imageWith>>;
  let b: Awaited<ReturnType<typeof imageWith>>;
  let c: Awaited<ReturnType<typeof imageWith>>;
  let d: Awaited<ReturnType<typeof imageWith>>;

  beforeAll(async () => {
    a = await imageWith("adv/a", [npm("lodash", "4.17.20"), npm("lodash-es", "4.17.15"), npm("express", "4.18.2"), npm("lodash.template", "4.5.0")]);
    b = await imageWith("adv/b", [npm("lodash", "4.17.21"), npm("lodash-es", "4.17.22")]);
    c = await imageWith("adv/c", [npm("lodash", "4.17.20")]);
    // C's VEX: CVE-2021-23337 (the advisory's alias) does not affect its lodash.
    const vex = JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20", "bom-ref": "l" }],
      vulnerabilities: [{ id: "CVE-2021-23337", analysis: { state: "not_affected", justification: "code_not_reachable" }, affects: [{ ref: "l" }] }],
    });
    await ingestEvidence({ actor: system, imageId: c.imageId, bytes: Buffer.from(vex), source: "upload" });
    // D's VEX is about another product of the same name and version: PyPI's lodash, not the npm lodash D contains.
    d = await imageWith("adv/d", [npm("lodash", "4.17.20")]);
    const otherProduct = JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.4",
      version: 1,
      components: [{ type: "library", name: "lodash", version: "4.17.20", purl: "pkg:pypi/lodash@4.17.20", "bom-ref": "p" }],
      vulnerabilities: [{ id: "CVE-2021-23337", analysis: { state: "not_affected", justification: "code_not_present" }, affects: [{ ref: "p" }] }],
    });
    await ingestEvidence({ actor: system, imageId: d.imageId, bytes: Buffer.from(otherProduct), source: "upload" });
  });

  it("matches the real GitHub advisory against every stored SBOM component, as findings whose source is the advisory", async () => {
    const r = await importAdvisories({ actor: reviewer, bytes: RAW, origin: "test" });
    expect(r).toMatchObject({ records: 1, created: 1, updated: 0, unchanged: 0, skipped: 0 });
    for (const img of [a, b, c, d]) {
      const rows = await advisoryFindings(img.imageId);
      expect(rows.map((f) => `${f.package}@${f.installedVersion}`).sort()).toEqual(expectedFor(FIXTURE, img.components));
      for (const f of rows) {
        expect(f).toMatchObject({
          vulnId: FIXTURE.id,
          aliases: FIXTURE.aliases,
          severity: "high",
          source: `osv:${FIXTURE.id}`,
          fixedVersion: "4.17.21",
          fixAvailable: true,
          documentId: null,
          cvssScore: 7.2,
        });
      }
    }
    expect(r.findings).toBe([a, b, c, d].reduce((s, i) => s + expectedFor(FIXTURE, i.components).length, 0));
    // lodash.template is another package: the advisory names lodash and lodash-es only.
    expect((await advisoryFindings(a.imageId)).some((f) => f.package === "lodash.template")).toBe(false);
    const audit = await db.auditEvent.findFirst({ where: { action: "advisory.import" }, orderBy: { seq: "desc" } });
    expect(audit?.detail).toMatchObject({ created: 1, findings: r.findings, advisories: [FIXTURE.id] });
  });

  it("a VEX statement about another ecosystem's package of the same name does not clear the finding", async () => {
    const rows = await advisoryFindings(d.imageId);
    expect(rows.map((f) => [f.package, f.status])).toEqual([["lodash", "affected"]]);
  });

  it("applies VEX: the image whose VEX says not_affected gets the finding as not_affected", async () => {
    const [f] = await advisoryFindings(c.imageId);
    expect(f).toMatchObject({ status: "not_affected" });
    expect(f!.statusDetail).toMatch(/^VEX: /);
    const ev = await getImageEvidence({ actor: system, imageId: c.imageId, query: parseEvidenceQuery({}) });
    expect(ev.severityCounts.high).toBe(0);
    const evA = await getImageEvidence({ actor: system, imageId: a.imageId, query: parseEvidenceQuery({}) });
    // Merged with any scanner's report under the CVE id, as for scanners.
    expect(
      evA.vulnerabilities
        .filter((v) => v.id === "CVE-2021-23337")
        .map((v) => v.package)
        .sort(),
    ).toEqual(["lodash", "lodash-es"]);
    expect(evA.severityCounts.high).toBe(2);
  });

  it("importing the same record again changes nothing; a newer one replaces its findings", async () => {
    const before = await db.finding.count({ where: { advisoryId: FIXTURE.id } });
    const again = await importAdvisories({ actor: reviewer, bytes: RAW, origin: "test" });
    expect(again).toMatchObject({ created: 0, updated: 0, unchanged: 1, findings: 0 });
    expect(await db.finding.count({ where: { advisoryId: FIXTURE.id } })).toBe(before);
    // Newer than the record stored, and not in the future (a record dated ahead of the clock is refused).
    const withdrawn = { ...FIXTURE, modified: "2024-01-01T00:00:00Z", withdrawn: "2024-01-01T00:00:00Z" };
    const w = await importAdvisories({ actor: reviewer, bytes: Buffer.from(JSON.stringify(withdrawn)), origin: "test" });
    expect(w).toMatchObject({ updated: 1, findings: 0 });
    expect(await db.finding.count({ where: { advisoryId: FIXTURE.id } })).toBe(0);
    const back = { ...FIXTURE, modified: "2025-01-01T00:00:00Z" };
    await importAdvisories({ actor: reviewer, bytes: Buffer.from(JSON.stringify(back)), origin: "test" });
    expect(await db.finding.count({ where: { advisoryId: FIXTURE.id } })).toBe(before);
  });

  it("an SBOM uploaded after the import is matched at once", async () => {
    const d = await imageWith("adv/d", [npm("lodash", "4.17.4")]);
    expect((await advisoryFindings(d.imageId)).map((f) => f.installedVersion)).toEqual(["4.17.4"]);
    expect(await db.reevaluationRequest.count({ where: { imageId: d.imageId, trigger: "evidence" } })).toBeGreaterThan(0);
  });

  it("a JSON array and an osv.dev-style ZIP import the same way; unknown ecosystems are counted as skipped", async () => {
    const ruby = {
      id: "GHSA-ruby-0000-0001",
      modified: "2024-01-01T00:00:00Z",
      affected: [{ package: { ecosystem: "RubyGems", name: "rack" }, ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "2.2.8" }] }] }],
    };
    const r = await importAdvisories({ actor: reviewer, bytes: Buffer.from(JSON.stringify([withId("GHSA-test-arr0-0001"), ruby])), origin: "test" });
    expect(r).toMatchObject({ records: 2, created: 1, skipped: 1, skippedEcosystems: { RubyGems: 1 } });
    expect(await db.advisory.findUnique({ where: { id: ruby.id } })).toBeNull();
    const zip = writeZip([
      { name: "GHSA-test-zip0-0001.json", data: Buffer.from(JSON.stringify(withId("GHSA-test-zip0-0001"))) },
      { name: "README.txt", data: Buffer.from("not a record") },
    ]);
    const z = await importAdvisories({ actor: reviewer, bytes: zip, origin: "all.zip" });
    expect(z).toMatchObject({ records: 1, created: 1 });
    expect(await db.finding.count({ where: { advisoryId: "GHSA-test-zip0-0001" } })).toBe(await db.finding.count({ where: { advisoryId: FIXTURE.id } }));
  });
});

describe("bad advisory input", () => {
  const counts = async () => ({
    advisories: await db.advisory.count(),
    findings: await db.finding.count(),
    audit: await db.auditEvent.count({ where: { action: "advisory.import" } }),
  });

  it("a malformed record anywhere refuses the whole import, naming it, and stores nothing", async () => {
    const before = await counts();
    const bad = {
      id: "GHSA-bad0-0000-0001",
      modified: "2024-01-01T00:00:00Z",
      affected: [{ package: { ecosystem: "npm", name: "x" }, ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0", fixed: "1.0.0" }] }] }],
    };
    await expect(
      importAdvisories({ actor: reviewer, bytes: Buffer.from(JSON.stringify([withId("GHSA-good-0000-0001"), bad])), origin: "test" }),
    ).rejects.toMatchObject({ code: "INVALID_INPUT", field: "body", message: expect.stringMatching(/\[1\]\.affected\[0\]\.ranges\[0\]\.events\[0\]/) });
    await expect(
      importAdvisories({ actor: reviewer, bytes: Buffer.from(JSON.stringify({ id: "X-1", modified: "soon" })), origin: "test" }),
    ).rejects.toMatchObject({ code: "INVALID_INPUT", message: expect.stringMatching(/modified/) });
    await expect(importAdvisories({ actor: reviewer, bytes: Buffer.from("{not json"), origin: "test" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(importAdvisories({ actor: reviewer, bytes: Buffer.from("[]"), origin: "test" })).rejects.toMatchObject({ code: "INVALID_INPUT" });
    await expect(
      importAdvisories({
        actor: reviewer,
        bytes: Buffer.from(JSON.stringify({ ...withId("GHSA-nul0-0000-0001"), database_specific: { x: "a\u0000b" } })),
        origin: "test",
      }),
    ).rejects.toMatchObject({ code: "INVALID_INPUT" });
    expect(await counts()).toEqual(before);
    expect(await db.advisory.findUnique({ where: { id: "GHSA-good-0000-0001" } })).toBeNull();
  });

  it("a zip bomb is refused before inflating, with nothing stored, even next to a good record", async () => {
    const before = await counts();
    const bomb = writeZip([
      { name: "GHSA-good-0000-0002.json", data: Buffer.from(JSON.stringify(withId("GHSA-good-0000-0002"))) },
      { name: "bomb.json", data: Buffer.alloc(30 * 1024 * 1024, 0x20) },
    ]);
    expect(bomb.length).toBeLessThan(100_000);
    await expect(importAdvisories({ actor: reviewer, bytes: bomb, origin: "bomb.zip" })).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
      message: expect.stringMatching(/bomb\.json inflates/),
    });
    // An entry that lies about its size is caught while inflating.
    const liar = writeZip([{ name: "liar.json", data: Buffer.alloc(2 * 1024 * 1024, 0x20), declaredSize: 1000 }]);
    await expect(importAdvisories({ actor: reviewer, bytes: liar, origin: "liar.zip" })).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(await counts()).toEqual(before);
  });

  it("an archive of 100,000 tiny files is refused with nothing stored", async () => {
    const before = await counts();
    const files = Array.from({ length: 100_000 }, (_, i) => ({ name: `${i}.json`, data: Buffer.from("{}"), store: true }));
    await expect(importAdvisories({ actor: reviewer, bytes: writeZip(files), origin: "many.zip" })).rejects.toMatchObject({
      code: "PAYLOAD_TOO_LARGE",
      message: expect.stringMatching(/entries/),
    });
    expect(await counts()).toEqual(before);
  });

  it("only admins and reviewers import", async () => {
    await expect(importAdvisories({ actor: await userActor("dev@example.com"), bytes: RAW, origin: "test" })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});
