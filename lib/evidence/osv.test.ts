import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { componentKeys, cvss3BaseScore, OsvError, parseOsvRecord, releaseMatches } from "./osv";
import { readZip, ZipError } from "./zip";
import { writeZip } from "./zip-writer";

const fixture = JSON.parse(readFileSync("/work/shared/fixtures/advisories/GHSA-35jh-r3h4-6jhm.json", "utf8")) as {
  id: string;
  aliases: string[];
  affected: { package: { name: string } }[];
};

describe("OSV records", () => {
  it("normalizes the GitHub advisory: aliases, severity, CVSS score and both npm packages", () => {
    const a = parseOsvRecord(fixture);
    expect(a.id).toBe(fixture.id);
    expect(a.aliases).toEqual(fixture.aliases);
    expect(a.severity).toBe("high");
    expect(a.cvss).toEqual({ score: 7.2, vector: "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H" });
    expect(a.affected.map((x) => x.key)).toEqual(fixture.affected.map((x) => `npm|${x.package.name}`));
  });

  it("refuses a malformed record naming the field", () => {
    expect(() => parseOsvRecord({ id: "X-1", modified: "yesterday" })).toThrow(/modified: is not an RFC 3339 time/);
    expect(() =>
      parseOsvRecord({
        id: "X-1",
        modified: "2024-01-01T00:00:00Z",
        affected: [{ package: { ecosystem: "npm", name: "a" }, ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0", fixed: "1" }] }] }],
      }),
    ).toThrow(OsvError);
    expect(() => parseOsvRecord({ id: "bad\u0000id", modified: "2024-01-01T00:00:00Z" })).toThrow(/id/);
  });

  it("keeps unknown ecosystems aside", () => {
    const a = parseOsvRecord({ id: "X-2", modified: "2024-01-01T00:00:00Z", affected: [{ package: { ecosystem: "RubyGems", name: "rack" } }] });
    expect(a.affected).toEqual([]);
    expect(a.unknownEcosystems).toEqual(["RubyGems"]);
  });

  it("computes CVSS 3.x base scores", () => {
    expect(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H")).toBe(10);
    expect(cvss3BaseScore("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")).toBe(9.8);
    expect(cvss3BaseScore("CVSS:3.0/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N")).toBe(5.5);
    expect(cvss3BaseScore("AV:N/AC:L/Au:N/C:P/I:P/A:P")).toBeUndefined();
  });

  it("derives component keys from purls (Maven group, npm scope, deb source package, distro)", () => {
    expect(componentKeys({ name: "log4j-core", purl: "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", ecosystem: "maven" }).keys).toEqual([
      "maven|org.apache.logging.log4j:log4j-core",
    ]);
    expect(componentKeys({ name: "core", purl: "pkg:npm/%40babel/core@7.0.0", ecosystem: null }).keys).toEqual(["npm|@babel/core"]);
    const deb = componentKeys({
      name: "libssl1.1",
      purl: "pkg:deb/debian/libssl1.1@1.1.1n-0+deb11u3?arch=amd64&upstream=openssl&distro=debian-11",
      ecosystem: "deb",
    });
    expect(deb.keys).toEqual(["deb|libssl1.1", "deb|openssl"]);
    expect(releaseMatches("11", deb.distro)).toBe(true);
    expect(releaseMatches("12", deb.distro)).toBe(false);
    expect(componentKeys({ name: "log4j-core", purl: null, ecosystem: "maven" }).keys).toEqual([]);
    expect(componentKeys({ name: "Django", purl: null, ecosystem: "pypi" }).keys).toEqual(["pypi|django"]);
  });
});

describe("ZIP reader", () => {
  it("reads deflated and stored entries", () => {
    const z = writeZip([
      { name: "a.json", data: Buffer.from('{"a":1}') },
      { name: "dir/b.json", data: Buffer.from("[]"), store: true },
    ]);
    expect(readZip(z).map((e) => [e.name, e.data.toString()])).toEqual([
      ["a.json", '{"a":1}'],
      ["dir/b.json", "[]"],
    ]);
  });

  it("refuses a zip bomb by ratio before inflating", () => {
    const z = writeZip([{ name: "bomb.json", data: Buffer.alloc(50 * 1024 * 1024, 0x20) }]);
    expect(z.length).toBeLessThan(200_000);
    expect(() => readZip(z, { maxEntries: 10, maxTotalBytes: 1 << 30, maxEntryBytes: 1 << 30, maxRatio: 200 })).toThrow(
      expect.objectContaining({ code: "BOMB" }),
    );
  });

  it("refuses an entry that inflates past its declared size", () => {
    const z = writeZip([{ name: "liar.json", data: Buffer.alloc(100_000, 0x41), declaredSize: 100 }]);
    expect(() => readZip(z)).toThrow(expect.objectContaining({ code: "BOMB" }));
  });

  it("refuses too many entries and too much in total", () => {
    const many = writeZip(Array.from({ length: 101 }, (_, i) => ({ name: `${i}.json`, data: Buffer.from("{}") })));
    expect(() => readZip(many, { maxEntries: 100, maxTotalBytes: 1e9, maxEntryBytes: 1e9, maxRatio: 1e9 })).toThrow(
      expect.objectContaining({ code: "TOO_MANY_ENTRIES" }),
    );
    const big = writeZip([
      { name: "a", data: Buffer.alloc(1000, 1) },
      { name: "b", data: Buffer.alloc(1000, 2) },
    ]);
    expect(() => readZip(big, { maxEntries: 10, maxTotalBytes: 1500, maxEntryBytes: 1e9, maxRatio: 1e9 })).toThrow(
      expect.objectContaining({ code: "TOO_LARGE" }),
    );
  });

  it("refuses garbage and damaged archives", () => {
    expect(() => readZip(Buffer.from("PK\u0003\u0004 not really"))).toThrow(ZipError);
    const z = writeZip([{ name: "a.json", data: Buffer.from('{"a":1}'), store: true }]);
    z[40] = z[40]! ^ 0xff; // flip a data byte: the CRC no longer matches
    expect(() => readZip(z)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
  });
});
