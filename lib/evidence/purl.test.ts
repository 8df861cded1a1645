import { PackageURL } from "packageurl-js";
import { describe, expect, it } from "vitest";
import { normalizePurl, parsePurl, purlSearchKey } from "./purl";

describe("purl normalisation", () => {
  it("spells the legacy alpine type as apk with namespace alpine", () => {
    expect(normalizePurl("pkg:alpine/busybox@1.35.0-r17?arch=x86_64")).toBe("pkg:apk/alpine/busybox@1.35.0-r17?arch=x86_64");
    expect(purlSearchKey("pkg:alpine/busybox")).toBe("pkg:apk/alpine/busybox");
    expect(purlSearchKey("pkg:apk/alpine/busybox@1")).toBe("pkg:apk/alpine/busybox");
    // A namespace it names is kept (wolfi, chainguard …).
    expect(normalizePurl("pkg:alpine/wolfi/busybox@1")).toBe("pkg:apk/wolfi/busybox@1");
  });

  it("accepts the scheme in any case and slashes after it", () => {
    expect(normalizePurl("PKG:npm/left-pad@1.0.0")).toBe("pkg:npm/left-pad@1.0.0");
    expect(normalizePurl("pkg://npm/left-pad@1.0.0")).toBe("pkg:npm/left-pad@1.0.0");
  });

  it("lower-cases the type always", () => {
    expect(normalizePurl("pkg:MAVEN/org.Apache/Log4j@2.0")).toBe("pkg:maven/org.Apache/Log4j@2.0");
  });

  it("lower-cases namespace and name of case-insensitive types (deb, apk, npm, github, composer …)", () => {
    expect(normalizePurl("pkg:deb/Debian/LibC6@2.36")).toBe("pkg:deb/debian/libc6@2.36");
    expect(normalizePurl("pkg:APK/Alpine/BusyBox@1.0")).toBe("pkg:apk/alpine/busybox@1.0");
    expect(normalizePurl("pkg:npm/%40Babel/Core@7.0.0")).toBe("pkg:npm/%40babel/core@7.0.0");
    expect(normalizePurl("pkg:github/Package-URL/Purl-Spec@244")).toBe("pkg:github/package-url/purl-spec@244");
    expect(normalizePurl("pkg:composer/Laravel/Framework@10")).toBe("pkg:composer/laravel/framework@10");
  });

  it("keeps the case of case-sensitive types (maven, nuget, golang) and of versions", () => {
    expect(normalizePurl("pkg:maven/Org.Apache/Log4j@2.0.RELEASE")).toBe("pkg:maven/Org.Apache/Log4j@2.0.RELEASE");
    expect(normalizePurl("pkg:nuget/Newtonsoft.Json@13.0.1")).toBe("pkg:nuget/Newtonsoft.Json@13.0.1");
    expect(normalizePurl("pkg:golang/github.com/Foo/Bar@v1.0.0-RC1")).toBe("pkg:golang/github.com/Foo/Bar@v1.0.0-RC1");
  });

  it("lower-cases pypi names and turns underscores into dashes", () => {
    expect(normalizePurl("pkg:pypi/Django_Rest_Framework@3.14.0")).toBe("pkg:pypi/django-rest-framework@3.14.0");
  });

  it("lower-cases only the namespace of rpm, and the name and digest of oci", () => {
    expect(normalizePurl("pkg:rpm/RedHat/OpenSSL@1.1")).toBe("pkg:rpm/redhat/OpenSSL@1.1");
    expect(normalizePurl("pkg:oci/Debian@sha256%3AABCD?repository_url=docker.io/library/debian")).toBe(
      "pkg:oci/debian@sha256:abcd?repository_url=docker.io%2Flibrary%2Fdebian",
    );
  });

  it("sorts qualifiers by key, lower-cases keys and drops empty values", () => {
    expect(normalizePurl("pkg:deb/debian/curl@7?distro=debian-12&ARCH=amd64&empty=")).toBe("pkg:deb/debian/curl@7?arch=amd64&distro=debian-12");
    expect(normalizePurl("pkg:deb/debian/curl@7?arch=amd64&arch=arm64")).toBe("pkg:deb/debian/curl@7?arch=amd64");
  });

  it("decodes and re-encodes every component one way", () => {
    // '+' in a version, encoded or not, in either hex case
    expect(normalizePurl("pkg:deb/debian/libc6@2.36-9%2bdeb12u1")).toBe("pkg:deb/debian/libc6@2.36-9+deb12u1");
    expect(normalizePurl("pkg:deb/debian/libc6@2.36-9%2Bdeb12u1")).toBe("pkg:deb/debian/libc6@2.36-9+deb12u1");
    // '@' of an npm scope, raw or encoded
    expect(normalizePurl("pkg:npm/@babel/core@7.0.0")).toBe("pkg:npm/%40babel/core@7.0.0");
    expect(normalizePurl("pkg:npm/%40babel/core@7.0.0")).toBe("pkg:npm/%40babel/core@7.0.0");
    expect(purlSearchKey("pkg:npm/@babel/core")).toBe("pkg:npm/@babel/core");
    // '+' in a name is encoded, ':' in a version is not
    expect(normalizePurl("pkg:deb/debian/libstdc++6@1:12.2.0-14")).toBe("pkg:deb/debian/libstdc%2B%2B6@1:12.2.0-14");
    expect(normalizePurl("pkg:deb/debian/libstdc%2b%2b6@1%3A12.2.0-14")).toBe("pkg:deb/debian/libstdc%2B%2B6@1:12.2.0-14");
    // qualifier values
    expect(normalizePurl("pkg:generic/a%20b@1?download_url=https://x/y%2Fz")).toBe("pkg:generic/a%20b@1?download_url=https:%2F%2Fx%2Fy%2Fz");
  });

  it("cleans namespace and subpath segments", () => {
    expect(normalizePurl("pkg:golang/github.com//foo/bar@v1#/sub/./x/../y/")).toBe("pkg:golang/github.com/foo/bar@v1#sub/x/y");
  });

  it("refuses what is not a purl, and bad percent-encoding", () => {
    for (const bad of ["", "npm/x", "pkg:", "pkg:npm", "pkg:npm/", "pkg:1npm/x", "pkg:npm/%E0%A4%A", "pkg:npm/x@%zz"])
      expect(normalizePurl(bad), bad).toBeNull();
  });

  it("is idempotent and agrees with packageurl-js on the package it names", () => {
    const inputs = [
      "pkg:APK/Alpine/BusyBox@1.0?distro=alpine-3.16&arch=x86_64",
      "pkg:pypi/Django_Rest@1.0",
      "pkg:npm/%40Babel/Core@7.0.0",
      "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar",
      "pkg:deb/debian/libc6@2.36-9%2Bdeb12u1?arch=amd64&distro=debian-12",
      "pkg:github/Package-URL/purl-spec@244",
      "pkg:rpm/RedHat/OpenSSL@1?arch=x86_64",
    ];
    for (const s of inputs) {
      const n = normalizePurl(s)!;
      expect(normalizePurl(n)).toBe(n);
      const theirs = PackageURL.fromString(s);
      const ours = parsePurl(s)!;
      expect([ours.type, ours.namespace ?? undefined, ours.name, ours.version ?? undefined]).toEqual([
        theirs.type,
        theirs.namespace ?? undefined,
        theirs.name,
        theirs.version ?? undefined,
      ]);
    }
  });

  it("normalises long hostile input (repeated duplicate qualifiers collapse to the first)", () => {
    const long = "pkg:npm/" + "%41".repeat(100_000) + "@" + "1".repeat(100_000) + "?" + "a=b&".repeat(20_000);
    expect(normalizePurl(long)).toBe(`pkg:npm/${"a".repeat(100_000)}@${"1".repeat(100_000)}?a=b`);
  });
});
