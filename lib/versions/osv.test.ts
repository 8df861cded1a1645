import { describe, expect, it } from "vitest";
import { fixedVersionFor, inOsvRange, isAffected, osvEcosystem } from "./osv";

describe("OSV ranges", () => {
  it("introduced 0 / fixed: everything below the fix", () => {
    const r = { type: "ECOSYSTEM" as const, events: [{ introduced: "0" }, { fixed: "4.17.21" }] };
    expect(inOsvRange("npm", "4.17.20", r)).toBe(true);
    expect(inOsvRange("npm", "0.0.1", r)).toBe(true);
    expect(inOsvRange("npm", "4.17.21", r)).toBe(false);
    expect(inOsvRange("npm", "5.0.0", r)).toBe(false);
  });

  it("several introduced/fixed pairs, unsorted, are ordered by the ecosystem", () => {
    const r = { type: "ECOSYSTEM" as const, events: [{ introduced: "2.0.0" }, { fixed: "1.5" }, { introduced: "1.0" }, { fixed: "2.17.1" }] };
    expect(inOsvRange("maven", "1.2", r)).toBe(true);
    expect(inOsvRange("maven", "1.7", r)).toBe(false);
    expect(inOsvRange("maven", "2.14.1", r)).toBe(true);
    expect(inOsvRange("maven", "2.17.1", r)).toBe(false);
    expect(inOsvRange("maven", "0.9", r)).toBe(false);
  });

  it("last_affected is inclusive", () => {
    const r = { type: "ECOSYSTEM" as const, events: [{ introduced: "1.0" }, { last_affected: "1.4" }] };
    expect(inOsvRange("pypi", "1.4", r)).toBe(true);
    expect(inOsvRange("pypi", "1.4.post1", r)).toBe(false);
    expect(inOsvRange("pypi", "1.10", r)).toBe(false);
  });

  it("limit caps an open range", () => {
    const r = { type: "ECOSYSTEM" as const, events: [{ introduced: "0" }, { limit: "3.0.0" }] };
    expect(inOsvRange("cargo", "2.9.9", r)).toBe(true);
    expect(inOsvRange("cargo", "3.0.0", r)).toBe(false);
  });

  it("SEMVER ranges compare as semver, with Go's v prefix", () => {
    const r = { type: "SEMVER" as const, events: [{ introduced: "0" }, { fixed: "0.17.0" }] };
    expect(inOsvRange("golang", "v0.16.9", r)).toBe(true);
    expect(inOsvRange("golang", "v0.17.0", r)).toBe(false);
  });

  it("distro versions use dpkg, rpm and apk order", () => {
    expect(inOsvRange("deb", "1.1.1n-0+deb11u3", { type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "1.1.1n-0+deb11u4" }] })).toBe(true);
    expect(inOsvRange("deb", "1.1.1n-0+deb11u4", { type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "1.1.1n-0+deb11u4" }] })).toBe(false);
    expect(inOsvRange("apk", "3.0.8-r0", { type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "3.0.8-r1" }] })).toBe(true);
    expect(inOsvRange("rpm", "1:1.1.1k-7.el8_6", { type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: "1:1.1.1k-8.el8_6" }] })).toBe(true);
  });

  it("GIT ranges never match; explicit versions do", () => {
    expect(isAffected("npm", "1.0.0", [{ type: "GIT", events: [{ introduced: "0" }] }], [])).toBe(false);
    expect(isAffected("npm", "1.0.0", [], ["1.0.0"])).toBe(true);
  });

  it("names the fix for an affected version", () => {
    const ranges = [{ type: "ECOSYSTEM" as const, events: [{ introduced: "2.0" }, { fixed: "2.15.0" }, { fixed: "2.17.1" }] }];
    expect(fixedVersionFor("maven", "2.14.1", ranges)).toBe("2.15.0");
  });

  it("maps OSV ecosystems and refuses unknown ones", () => {
    expect(osvEcosystem("Debian:11")).toEqual({ ecosystem: "deb", base: "Debian", release: "11" });
    expect(osvEcosystem("crates.io")?.ecosystem).toBe("cargo");
    expect(osvEcosystem("Red Hat")?.ecosystem).toBe("rpm");
    expect(osvEcosystem("RubyGems")).toBeUndefined();
    expect(osvEcosystem("__proto__")).toBeUndefined();
  });
});
