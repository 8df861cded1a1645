import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { normalizePurl, purlSearchKey } from "../../evidence/purl";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { importAdvisories } from "../advisories/import-advisories";
import { syncRegistry } from "../images/sync-registry";
import { ingestEvidence } from "./ingest-evidence";
import { getImageEvidence, parseEvidenceQuery } from "./get-image-evidence";
import { searchPackages } from "./search-packages";
import { withdrawEvidence } from "./withdraw-evidence";

// Fleet search by package (package_versions / package_images), purl normalisation on the way in and in the
// stored rows, and withdrawn evidence leaving the search and the advisory matches. Real Postgres, real registry.

const system: Actor = { kind: "system", label: "package-search-test" };
let admin: Actor;
let n = 0;

type Comp = { name: string; version?: string; purl?: string };
function sbom(components: Comp[]) {
  return Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: components.map((c, i) => ({ type: "library", "bom-ref": `c${i}`, ...c })),
    }),
  );
}

async function newImage(repo: string) {
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  return { imageId: row.id, digest: img.digest };
}

async function upload(imageId: string, components: Comp[]) {
  return (await ingestEvidence({ actor: system, imageId, bytes: sbom(components), source: "upload" })).document;
}

const digests = async (q: string, opts: { includeDeleted?: boolean } = {}) =>
  (await searchPackages({ actor: system, q, ...opts })).results.map((r) => r.digest).sort();

beforeAll(async () => {
  await seedUsers();
  admin = await userActor("admin@example.com");
});

afterAll(async () => {
  await disconnectDb();
});

describe("purl spellings", () => {
  it("stores every spelling of one package under one normalised purl and key, and finds it by any spelling", async () => {
    const a = await newImage("pkgsearch/alpine-old");
    const b = await newImage("pkgsearch/alpine-new");
    await upload(a.imageId, [{ name: "zebra-tools", version: "1.36.1-r5", purl: "pkg:alpine/Zebra-Tools@1.36.1-r5?distro=alpine-3.19&arch=x86_64" }]);
    await upload(b.imageId, [{ name: "zebra-tools", version: "1.36.1-r7", purl: "pkg:apk/alpine/zebra-tools@1.36.1-r7?arch=x86_64&distro=alpine-3.19" }]);
    const rows = await db.component.findMany({ where: { imageId: { in: [a.imageId, b.imageId] } }, orderBy: { version: "asc" } });
    expect(rows.map((r) => [r.purl, r.purlKey])).toEqual([
      ["pkg:apk/alpine/zebra-tools@1.36.1-r5?arch=x86_64&distro=alpine-3.19", "pkg:apk/alpine/zebra-tools"],
      ["pkg:apk/alpine/zebra-tools@1.36.1-r7?arch=x86_64&distro=alpine-3.19", "pkg:apk/alpine/zebra-tools"],
    ]);
    const both = [a.digest, b.digest].sort();
    expect(await digests("pkg:alpine/zebra-tools")).toEqual(both);
    expect(await digests("pkg:apk/alpine/Zebra-Tools")).toEqual(both);
    expect(await digests("zebra-tools")).toEqual(both);
    expect(await digests("pkg:apk/alpine/zebra-tools vers:apk/<1.36.1-r6")).toEqual([a.digest]);
    const hit = await searchPackages({ actor: system, q: "pkg:alpine/zebra-tools > 1.36.1-r6" });
    expect(hit.results).toHaveLength(1);
    expect(hit.results[0]).toMatchObject({
      digest: b.digest,
      versions: ["1.36.1-r7"],
      purls: ["pkg:apk/alpine/zebra-tools@1.36.1-r7?arch=x86_64&distro=alpine-3.19"],
    });
  });

  it("keeps a purl that does not parse as given, without a search key (found by name)", async () => {
    const a = await newImage("pkgsearch/odd");
    await upload(a.imageId, [{ name: "odd-one", version: "1.0", purl: "pkg:npm/%E0%A4%A@1.0" }]);
    const row = await db.component.findFirstOrThrow({ where: { imageId: a.imageId } });
    expect([row.purl, row.purlKey]).toEqual(["pkg:npm/%E0%A4%A@1.0", null]);
    expect(await digests("odd-one")).toEqual([a.digest]);
  });

  it("normalises in SQL (the migration's function) exactly as in TypeScript (the ingest's)", async () => {
    const corpus = [
      "pkg:alpine/busybox@1.35.0-r17?arch=x86_64&upstream=busybox&distro=alpine-3.16.2",
      "pkg:APK/Alpine/BusyBox@1.0?distro=alpine-3.16&arch=x86_64",
      "pkg:alpine/wolfi/busybox@1",
      "PKG://npm/left-pad@1.0.0",
      "pkg:MAVEN/org.Apache/Log4j@2.0.RELEASE?type=jar&classifier=",
      "pkg:pypi/Django_Rest_Framework@3.14.0",
      "pkg:npm/%40Babel/Core@7.0.0",
      "pkg:npm/@babel/core@7.0.0",
      "pkg:npm/@babel/core",
      "pkg:deb/Debian/libstdc++6@1%3A12.2.0-14%2bdeb12u1?distro=debian-12&ARCH=amd64&arch=arm64",
      "pkg:rpm/RedHat/OpenSSL@1.1?arch=x86_64",
      "pkg:oci/Debian@sha256%3AABCD?repository_url=docker.io/library/debian",
      "pkg:golang/github.com//Foo/bar@v1#/sub/./x/../y/",
      "pkg:generic/a%20b@1?download_url=https://x/y%2Fz",
      "pkg:generic/caf%C3%A9@1.0",
      "pkg:github/Package-URL/purl-spec@244",
      "pkg:npm/%E0%A4%A@1.0",
      "pkg:npm/x@%zz",
      "pkg:1npm/x",
      "pkg:npm",
      "npm/x",
    ];
    const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ p: string | null; k: string | null }>(
        `SELECT imprimatur_normalize_purl(x) AS p, imprimatur_normalize_purl(x, true) AS k FROM unnest($1::text[]) WITH ORDINALITY AS t(x, o) ORDER BY o`,
        [corpus],
      );
      expect(rows.map((r) => [r.p, r.k])).toEqual(corpus.map((c) => [normalizePurl(c), purlSearchKey(c)]));
    } finally {
      await client.end();
    }
  });
});

describe("search by package", () => {
  it("answers from the summary: one row per image, versions and purls of the matching rows, total beyond the page", async () => {
    const imgs: { imageId: string; digest: string }[] = [];
    for (let i = 0; i < 3; i++) imgs.push(await newImage(`pkgsearch/fleet-${i}`));
    // Two SBOMs of the same image carrying the same package count once; one image has two versions.
    await upload(imgs[0]!.imageId, [{ name: "quokka", version: "2.0.1", purl: "pkg:npm/quokka@2.0.1" }]);
    await upload(imgs[0]!.imageId, [
      { name: "quokka", version: "2.0.1", purl: "pkg:npm/quokka@2.0.1" },
      { name: "other", version: "1" },
    ]);
    await upload(imgs[1]!.imageId, [
      { name: "quokka", version: "2.0.1", purl: "pkg:npm/quokka@2.0.1" },
      { name: "quokka", version: "3.1.0", purl: "pkg:npm/quokka@3.1.0" },
    ]);
    await upload(imgs[2]!.imageId, [{ name: "Quokka", version: "3.2.0" }]);
    const all = await searchPackages({ actor: system, q: "quokka", limit: 2 });
    expect(all.total).toBe(3);
    expect(all.results).toHaveLength(2);
    // The page is the first in registry / repository / digest order.
    expect(all.results.map((r) => r.digest)).toEqual([imgs[0]!.digest, imgs[1]!.digest]);
    const one = await searchPackages({ actor: system, q: "quokka", limit: 0 });
    expect([one.total, one.results.length]).toEqual([3, 0]);
    const hit = await searchPackages({ actor: system, q: "quokka >= 3.0.0" });
    expect(hit.results.map((r) => [r.repository, r.versions, r.purls])).toEqual([
      ["pkgsearch/fleet-1", ["3.1.0"], ["pkg:npm/quokka@3.1.0"]],
      ["pkgsearch/fleet-2", ["3.2.0"], []],
    ]);
    const noRange = await searchPackages({ actor: system, q: "quokka" });
    expect(noRange.results.find((r) => r.repository === "pkgsearch/fleet-1")!.versions).toEqual(["2.0.1", "3.1.0"]);
    // The summary holds one pair per (package version, image), however many SBOMs repeat it.
    const pairs = await db.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM package_images pi JOIN package_versions pv ON pv.id = pi.package_version_id WHERE pv.name_key = 'quokka'`;
    expect(pairs[0]!.n).toBe(4);
    expect(await digests("quokka < 1.0.0")).toEqual([]);
    expect(await digests("no-such-package-anywhere")).toEqual([]);
  });

  it("ingests sharing new packages concurrently, in opposite orders, all succeed and all are found", async () => {
    const imgs = await Promise.all([0, 1, 2, 3].map((i) => newImage(`pkgsearch/concurrent-${i}`)));
    const names = Array.from({ length: 40 }, (_, i) => `kiwi-${String(i).padStart(2, "0")}`);
    await Promise.all(
      imgs.map((img, i) =>
        upload(
          img.imageId,
          (i % 2 ? [...names].reverse() : names).map((name) => ({ name, version: "1.0.0", purl: `pkg:npm/${name}@1.0.0` })),
        ),
      ),
    );
    expect(await digests("pkg:npm/kiwi-00")).toEqual(imgs.map((x) => x.digest).sort());
    expect(await digests("kiwi-39 >= 1.0.0")).toEqual(imgs.map((x) => x.digest).sort());
    const rows = await db.$queryRaw<{ versions: number; pairs: number }[]>`
      SELECT count(DISTINCT pv.id)::int AS versions, count(*)::int AS pairs FROM package_versions pv JOIN package_images pi ON pi.package_version_id = pv.id WHERE pv.name_key LIKE 'kiwi-%'`;
    expect(rows[0]).toEqual({ versions: 40, pairs: 160 });
  });

  it("leaves out deleted images unless asked", async () => {
    const a = await newImage("pkgsearch/deleted");
    await upload(a.imageId, [{ name: "wombat", version: "1.0.0" }]);
    // Synced before the deletion below (a sync brings back an image the registry still serves).
    const b = await newImage("pkgsearch/deleted-live");
    await db.image.update({ where: { id: a.imageId }, data: { deletedAt: new Date() } });
    expect(await digests("wombat")).toEqual([]);
    const withDeleted = await searchPackages({ actor: system, q: "wombat", includeDeleted: true });
    expect(withDeleted.results.map((r) => [r.digest, r.deleted])).toEqual([[a.digest, true]]);
    // The count alone (an empty page) and the count on the page rows agree, with and without deleted images.
    await upload(b.imageId, [{ name: "wombat", version: "2.0.0" }]);
    for (const limit of [0, 1]) {
      expect((await searchPackages({ actor: system, q: "wombat", limit })).total).toBe(1);
      expect((await searchPackages({ actor: system, q: "wombat", limit, includeDeleted: true })).total).toBe(2);
    }
    const page = await searchPackages({ actor: system, q: "wombat", limit: 1, includeDeleted: true });
    // Repository order: pkgsearch/deleted before pkgsearch/deleted-live.
    expect(page.results.map((r) => [r.digest, r.deleted])).toEqual([[a.digest, true]]);
  });

  it("answers the same by key lookups of a few hits as by one pass over the images", async () => {
    const imgs = await Promise.all([0, 1, 2].map((i) => newImage(`pkgsearch/shape-${i}`)));
    await upload(imgs[0]!.imageId, [{ name: "numbat", version: "1.0.0", purl: "pkg:npm/numbat@1.0.0" }]);
    await upload(imgs[1]!.imageId, [
      { name: "numbat", version: "1.0.0", purl: "pkg:npm/numbat@1.0.0" },
      { name: "numbat", version: "2.0.0", purl: "pkg:npm/numbat@2.0.0" },
    ]);
    await upload(imgs[2]!.imageId, [{ name: "numbat", version: "2.0.0", purl: "pkg:npm/numbat@2.0.0" }]);
    await db.image.update({ where: { id: imgs[2]!.imageId }, data: { deletedAt: new Date() } });
    const run = async () => {
      const out = [];
      for (const q of ["numbat", "numbat >= 2.0.0", "pkg:npm/numbat"])
        for (const opts of [{}, { includeDeleted: true }, { limit: 1 }, { limit: 0, includeDeleted: true }])
          out.push(await searchPackages({ actor: system, q, ...opts }));
      return out;
    };
    // The statement shape follows the planner's count of images (pg_class.reltuples): a large fleet makes these few
    // hits key lookups, an unknown one (-1) one pass.
    const setFleet = (n: number) => db.$executeRawUnsafe(`UPDATE pg_class SET reltuples = ${n} WHERE oid = 'images'::regclass`);
    try {
      await setFleet(1e9);
      const lookups = await run();
      await setFleet(-1);
      const pass = await run();
      expect(lookups).toEqual(pass);
      expect(pass[0]!.results.map((r) => [r.repository, r.versions, r.purls])).toEqual([
        ["pkgsearch/shape-0", ["1.0.0"], ["pkg:npm/numbat@1.0.0"]],
        ["pkgsearch/shape-1", ["1.0.0", "2.0.0"], ["pkg:npm/numbat@1.0.0", "pkg:npm/numbat@2.0.0"]],
      ]);
      expect(pass.map((r) => r.total)).toEqual([2, 3, 2, 3, 1, 2, 1, 2, 2, 3, 2, 3]);
    } finally {
      await db.$executeRawUnsafe(`ANALYZE images`);
    }
  });

  it("lists hits in code-point order of registry, repository and digest, the same by key lookups as by one pass", async () => {
    // Straight rows (no registry behind them): names whose code-point order differs from a locale's (upper case
    // before lower, '-' before letters), in two registries, so the one-pass shape's repository rank must agree.
    const tag = randomUUID().slice(0, 8);
    const pkg = `kookaburra-${tag}`;
    const expected: [string, string, string, string[]][] = [];
    for (const registry of [`zz-${tag}`, `Zz-${tag}`]) {
      const reg = await db.registry.create({ data: { name: registry, url: "http://127.0.0.1:9", enabled: false } });
      for (const name of ["team/b", "team/B", "team/a-x", "team/a", "team/ab"]) {
        const repo = await db.repository.create({ data: { registryId: reg.id, name } });
        for (let k = 0; k < 2; k++) {
          const digest = `sha256:${randomUUID().replace(/-/g, "")}${randomUUID().replace(/-/g, "")}`;
          const img = await db.image.create({
            data: { repositoryId: repo.id, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 2, manifest: Buffer.from("{}") },
          });
          await upload(img.id, [{ name: pkg, version: `1.${k}.0` }]);
          expected.push([registry, name, digest, [`1.${k}.0`]]);
        }
      }
    }
    const cp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    expected.sort((a, b) => cp(a[0], b[0]) || cp(a[1], b[1]) || cp(a[2], b[2]));
    const setFleet = (n: number) => db.$executeRawUnsafe(`UPDATE pg_class SET reltuples = ${n} WHERE oid = 'images'::regclass`);
    const shown = async (opts: { q?: string; limit?: number } = {}) => {
      const r = await searchPackages({ actor: system, q: opts.q ?? pkg, limit: opts.limit });
      return { total: r.total, rows: r.results.map((x) => [x.registry, x.repository, x.digest, x.versions]) };
    };
    try {
      // 1e9: key lookups; -1: one pass; 1: the walk (dense hits for a tiny fleet).
      for (const fleet of [1e9, -1, 1]) {
        await setFleet(fleet);
        const all = await shown();
        expect(all.rows).toEqual(expected);
        expect(all.total).toBe(20);
        const page = await shown({ limit: 3 });
        expect(page.rows).toEqual(expected.slice(0, 3));
        expect(page.total).toBe(20);
        const ranged = await shown({ q: `${pkg} >= 1.1.0`, limit: 4 });
        expect(ranged.rows).toEqual(expected.filter((e) => e[3][0] === "1.1.0").slice(0, 4));
        expect(ranged.total).toBe(10);
      }
    } finally {
      await db.$executeRawUnsafe(`ANALYZE images`);
    }
  });

  it("walks dense hits to the same page, count and details as the other shapes and as a plain query of the summary", async () => {
    // Three registries × four repositories × three images; the package in most images, two versions, some images
    // deleted (also in the middle of the walk's order), some without it.
    const tag = randomUUID().slice(0, 8);
    const pkg = `bilby-${tag}`;
    let k = 0;
    for (const registry of [`b-${tag}`, `A-${tag}`, `a-${tag}`]) {
      const reg = await db.registry.create({ data: { name: registry, url: "http://127.0.0.1:9", enabled: false } });
      for (const name of ["x/b", "x/a", "x/B", "x/a-b"]) {
        const repo = await db.repository.create({ data: { registryId: reg.id, name } });
        for (let j = 0; j < 3; j++) {
          const digest = `sha256:${randomUUID().replace(/-/g, "")}${randomUUID().replace(/-/g, "")}`;
          const img = await db.image.create({
            data: { repositoryId: repo.id, digest, mediaType: "application/vnd.oci.image.manifest.v1+json", size: 2, manifest: Buffer.from("{}") },
          });
          await db.tag.create({ data: { repositoryId: repo.id, name: `t${j}`, digest } });
          const n = k++;
          if (n % 7 === 3) continue;
          const comps = [{ name: pkg, version: n % 3 ? "2.0.0" : "1.0.0", purl: `pkg:npm/${pkg}@${n % 3 ? "2.0.0" : "1.0.0"}` }];
          if (n % 5 === 0) comps.push({ name: pkg, version: "3.0.0", purl: `pkg:npm/${pkg}@3.0.0` });
          await upload(img.id, comps);
          if (n % 4 === 1) await db.image.update({ where: { id: img.id }, data: { deletedAt: new Date() } });
        }
      }
    }
    // The plain statement the shapes must agree with: every image of the summary holding the package, in code-point
    // order, with its matching versions.
    const reference = async (minVersion: string | null, includeDeleted: boolean) =>
      (
        await db.$queryRaw<{ registry: string; repository: string; digest: string; deleted: boolean; versions: string[] }[]>`
          SELECT g.name AS registry, r.name AS repository, i.digest, i.deleted_at IS NOT NULL AS deleted,
                 array_agg(DISTINCT pv.version ORDER BY pv.version) AS versions
          FROM package_images pi JOIN package_versions pv ON pv.id = pi.package_version_id
          JOIN images i ON i.id = pi.image_id JOIN repositories r ON r.id = i.repository_id JOIN registries g ON g.id = r.registry_id
          WHERE pv.name_key = ${pkg} AND (${minVersion}::text IS NULL OR pv.version >= ${minVersion}) AND (${includeDeleted} OR i.deleted_at IS NULL)
          GROUP BY g.name, r.name, i.digest, i.deleted_at
          ORDER BY g.name COLLATE "C", r.name COLLATE "C", i.digest COLLATE "C"`
      ).map((r) => [r.registry, r.repository, r.digest, r.deleted, r.versions]);
    const setFleet = (n: number) => db.$executeRawUnsafe(`UPDATE pg_class SET reltuples = ${n} WHERE oid = 'images'::regclass`);
    const cases = [
      { q: pkg, min: null },
      { q: `${pkg} >= 2.0.0`, min: "2.0.0" },
    ];
    const answers: unknown[][] = [];
    try {
      // 1e9: key lookups; -1: one pass; 1: the walk (each case below has over 10 pairs: 5 × 10² > 10, the largest page).
      for (const fleet of [1e9, -1, 1]) {
        await setFleet(fleet);
        const out: unknown[] = [];
        for (const c of cases) {
          for (const includeDeleted of [false, true]) {
            const all = await reference(c.min, includeDeleted);
            expect(all.length).toBeGreaterThan(10);
            for (const limit of [1, 7, 10]) {
              const r = await searchPackages({ actor: system, q: c.q, includeDeleted, limit });
              expect(r.total).toBe(all.length);
              expect(r.results.map((x) => [x.registry, x.repository, x.digest, x.deleted, x.versions])).toEqual(all.slice(0, limit));
              // Tags: the details of the page, as for any shape.
              expect(r.results.every((x) => x.tags.length === 1 && /^t[0-2]$/.test(x.tags[0]!))).toBe(true);
              out.push(r);
            }
          }
        }
        answers.push(out);
      }
      expect(answers[1]).toEqual(answers[0]);
      expect(answers[2]).toEqual(answers[0]);
    } finally {
      await db.$executeRawUnsafe(`ANALYZE images`);
    }
  });

  it("stops finding the components of a withdrawn SBOM, unless another live SBOM of the image has them", async () => {
    const a = await newImage("pkgsearch/withdrawn");
    const first = await upload(a.imageId, [
      { name: "platypus", version: "1.0.0" },
      { name: "echidna", version: "2.0.0" },
    ]);
    await upload(a.imageId, [{ name: "platypus", version: "1.0.0" }]);
    expect(await digests("echidna")).toEqual([a.digest]);
    await withdrawEvidence({ actor: admin, documentId: first.id, reason: "SBOM of another build" });
    expect(await digests("echidna")).toEqual([]);
    expect(await digests("platypus")).toEqual([a.digest]);
    const left = await db.$queryRaw<{ name_key: string }[]>`
      SELECT pv.name_key FROM package_images pi JOIN package_versions pv ON pv.id = pi.package_version_id WHERE pi.image_id = ${a.imageId}::uuid ORDER BY 1`;
    expect(left.map((r) => r.name_key)).toEqual(["platypus"]);
    // The image page lists what the live SBOM says, as its findings do.
    const page = await getImageEvidence({ actor: admin, imageId: a.imageId, query: parseEvidenceQuery({}) });
    expect(page.components.map((c) => c.name)).toEqual(["platypus"]);
    expect(page.componentTotal).toBe(1);
    // The rows themselves stay (withdrawal deletes nothing).
    expect(await db.component.count({ where: { documentId: first.id } })).toBe(2);
  });

  it("drops the advisory findings that rested on a withdrawn SBOM's components", async () => {
    const a = await newImage("pkgsearch/advisory");
    const doc = await upload(a.imageId, [{ name: "lodash", version: "4.17.20", purl: "pkg:npm/lodash@4.17.20" }]);
    await importAdvisories({
      actor: await userActor("alice@example.com"),
      bytes: readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json"),
      origin: "test",
    });
    expect(await db.finding.count({ where: { imageId: a.imageId, advisoryId: { not: null } } })).toBeGreaterThan(0);
    await withdrawEvidence({ actor: admin, documentId: doc.id, reason: "SBOM of another build" });
    expect(await db.finding.count({ where: { imageId: a.imageId, advisoryId: { not: null } } })).toBe(0);
    // A later advisory import does not bring them back either.
    await importAdvisories({
      actor: await userActor("alice@example.com"),
      bytes: readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json"),
      origin: "test-again",
    });
    expect(await db.finding.count({ where: { imageId: a.imageId, advisoryId: { not: null } } })).toBe(0);
  });
});
