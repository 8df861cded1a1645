// Debian's, Alpine's and Red Hat's OSV records name the source package (openssl); images carry its binary packages
// (libssl3, libcrypto3) with the source in the purl (upstream=, origin=, sourcerpm=). Found by review: matching read
// only the component's own name, so those images got no finding and the findings gate passed.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedUsers } from "../../../scripts/seed";
import { userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import type { Actor } from "../actor";
import { ingestEvidence } from "../evidence/ingest-evidence";
import { syncRegistry } from "../images/sync-registry";
import { sourcePackageName } from "../../evidence/osv";
import { importAdvisories } from "./import-advisories";

const system: Actor = { kind: "system", label: "upstream-test" };
let reviewer: Actor;
let n = 0;
type Comp = { name: string; version: string; purl: string };
const sbom = (components: Comp[]) =>
  Buffer.from(
    JSON.stringify({
      bomFormat: "CycloneDX",
      specVersion: "1.5",
      version: 1,
      serialNumber: `urn:uuid:${randomUUID()}`,
      components: components.map((c) => ({ type: "library", "bom-ref": c.purl, ...c })),
    }),
  );

async function imageWith(repo: string, components: Comp[]) {
  const client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${repo} ${++n} ${Date.now()}` }] });
  await pushImage(client, repo, img, [`v${n}`]);
  await syncRegistry({ actor: system, registry: "default" });
  const row = await db.image.findFirstOrThrow({ where: { digest: img.digest, repository: { name: repo } } });
  await ingestEvidence({ actor: system, imageId: row.id, bytes: sbom(components), source: "upload" });
  return row.id;
}

// Debian's OSV records (DSA/DLA/DEBIAN-CVE) name the SOURCE package; images carry binary packages (libssl3).
const DSA = {
  id: "DSA-9999-1",
  aliases: ["CVE-2099-0001"],
  modified: "2024-01-01T00:00:00Z",
  affected: [
    { package: { ecosystem: "Debian:12", name: "openssl" }, ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.0.13-1~deb12u1" }] }] },
  ],
};
// Alpine's OSV records name the origin (source) package; alpine images carry libcrypto3 / libssl3.
const ALPINE = {
  id: "ALPINE-CVE-2099-0002",
  modified: "2024-01-01T00:00:00Z",
  affected: [
    { package: { ecosystem: "Alpine:v3.18", name: "openssl" }, ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.1.4-r5" }] }] },
  ],
};

beforeAll(async () => {
  await seedUsers();
  reviewer = await userActor("alice@example.com");
});
afterAll(async () => {
  await disconnectDb();
});

describe("advisories naming a source package match its binary packages", () => {
  it("libssl3 (upstream=openssl) gets the DSA finding, libcrypto3 the Alpine one", async () => {
    const deb = await imageWith("upstream/deb", [
      { name: "libssl3", version: "3.0.11-1~deb12u2", purl: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12" },
    ]);
    const control = await imageWith("upstream/deb-control", [
      { name: "openssl", version: "3.0.11-1~deb12u2", purl: "pkg:deb/debian/openssl@3.0.11-1~deb12u2?arch=amd64&distro=debian-12" },
    ]);
    const alp = await imageWith("upstream/alpine", [
      { name: "libcrypto3", version: "3.1.4-r0", purl: "pkg:apk/alpine/libcrypto3@3.1.4-r0?arch=x86_64&upstream=openssl&distro=alpine-3.18.4" },
    ]);
    const r = await importAdvisories({ actor: reviewer, bytes: Buffer.from(JSON.stringify([DSA, ALPINE])), origin: "test" });
    expect(r.created).toBe(2);
    // the control (binary named like the source) is matched: the advisory itself works
    expect(await db.finding.count({ where: { imageId: control, advisoryId: DSA.id } })).toBe(1);
    const debF = await db.finding.count({ where: { imageId: deb, advisoryId: DSA.id } });
    const alpF = await db.finding.count({ where: { imageId: alp, advisoryId: ALPINE.id } });
    expect(debF).toBe(1);
    expect(alpF).toBe(1);
  });

  it("an SBOM uploaded after the import (rematch path) also gets it", async () => {
    const deb2 = await imageWith("upstream/deb2", [
      { name: "libssl3", version: "3.0.11-1~deb12u2", purl: "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12" },
    ]);
    expect(await db.finding.count({ where: { imageId: deb2, advisoryId: DSA.id } })).toBe(1);
  });

  it("the index's source name (SQL) agrees with the matcher's (JavaScript) on distro purls", async () => {
    const purls = [
      "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12",
      "pkg:deb/debian/libssl3@3.0.11-1?upstream=openssl%403.0.11-1&arch=amd64",
      "pkg:deb/debian/libsigc%2B%2B-2.0-0v5@2.12.0-1?upstream=libsigc%2B%2B-2.0",
      "pkg:apk/alpine/libcrypto3@3.1.4-r0?arch=x86_64&upstream=OpenSSL&distro=alpine-3.18.4",
      "pkg:alpine/libcrypto3@3.1.4-r0?origin=openssl",
      "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&sourcerpm=openssl-3.0.7-24.el9.src.rpm",
      "pkg:npm/lodash@4.17.20?upstream=x",
      "pkg:deb/debian/bash@5.2-2",
    ];
    const rows = await db.$queryRaw<
      { purl: string; source: string | null }[]
    >`SELECT p AS purl, imprimatur_purl_source_name(p) AS source FROM unnest(${purls}::text[]) p`;
    expect(rows.map((r) => [r.purl, r.source])).toEqual(purls.map((p) => [p, sourcePackageName(p)]));
    expect(rows.map((r) => r.source)).toEqual(["openssl", "openssl", "libsigc++-2.0", "openssl", "openssl", "openssl", null, null]);
  });

  it("rpm: openssl-libs (sourcerpm=openssl-….src.rpm) gets a Red Hat advisory on openssl", async () => {
    const rpm = await imageWith("upstream/rpm", [
      {
        name: "openssl-libs",
        version: "1:3.0.7-24.el9",
        purl: "pkg:rpm/redhat/openssl-libs@3.0.7-24.el9?arch=x86_64&epoch=1&sourcerpm=openssl-3.0.7-24.el9.src.rpm",
      },
    ]);
    const RHSA = {
      id: "RHSA-2099:0003",
      modified: "2024-01-01T00:00:00Z",
      affected: [
        { package: { ecosystem: "Red Hat", name: "openssl" }, ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "1:3.0.7-25.el9" }] }] },
      ],
    };
    await importAdvisories({ actor: reviewer, bytes: Buffer.from(JSON.stringify(RHSA)), origin: "test" });
    expect(await db.finding.count({ where: { imageId: rpm, advisoryId: RHSA.id } })).toBe(1);
  });
});
