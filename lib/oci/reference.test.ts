import { describe, expect, it } from "vitest";
import { nextLink, parseWwwAuthenticate } from "./client";
import { cosignTag, isArtifactTag, parseDigestReference, pullReference } from "./reference";

const D = `sha256:${"ab".repeat(32)}`;

describe("references", () => {
  it("parses repository@digest with slashes and rejects tags", () => {
    expect(parseDigestReference(`team/app/api@${D}`)).toEqual({ repository: "team/app/api", digest: D });
    expect(() => parseDigestReference("team/app:latest")).toThrow(/repository>@sha256/);
    expect(() => parseDigestReference(`Team/App@${D}`)).toThrow(/repository name/);
    expect(() => parseDigestReference("app@sha256:xyz")).toThrow(/sha256:<64/);
  });

  it("recognises cosign and referrers-fallback tags, and nothing else", () => {
    expect(isArtifactTag(cosignTag(D as `sha256:${string}`, "sig"))).toBe(true);
    expect(isArtifactTag(`sha256-${"ab".repeat(32)}.att`)).toBe(true);
    expect(isArtifactTag(`sha256-${"ab".repeat(32)}.sbom`)).toBe(true);
    expect(isArtifactTag(`sha256-${"ab".repeat(32)}`)).toBe(true);
    expect(isArtifactTag("sha256-abc")).toBe(false);
    expect(isArtifactTag("1.0")).toBe(false);
    expect(isArtifactTag(`sha256-${"ab".repeat(32)}.sig.bak`)).toBe(false);
  });

  it("builds the pull reference from the URL host or a configured pull name", () => {
    expect(pullReference("http://127.0.0.1:5000", null, "a/b")).toBe("127.0.0.1:5000/a/b");
    expect(pullReference("http://127.0.0.1:5000", "registry.example.com", "a/b")).toBe("registry.example.com/a/b");
  });
});

describe("HTTP helpers", () => {
  it("follows Link rel=next relative to the request URL", () => {
    expect(nextLink('</v2/_catalog?last=b&n=2>; rel="next"', "http://r:5000/v2/_catalog?n=2")).toBe("http://r:5000/v2/_catalog?last=b&n=2");
    expect(nextLink(null, "http://r")).toBeNull();
  });

  it("parses a Bearer challenge", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "reg", scope: "repository:a:pull" },
    });
  });
});

describe("image references as Kubernetes writes them", () => {
  it("parses hosts, ports, tags and digests, with Docker Hub defaults", async () => {
    const { parseImageReference } = await import("./reference");
    expect(parseImageReference(`127.0.0.1:5000/team/app@${D}`)).toEqual({ host: "127.0.0.1:5000", repository: "team/app", digest: D });
    expect(parseImageReference("registry.example.com/team/app:1.2")).toEqual({ host: "registry.example.com", repository: "team/app", tag: "1.2" });
    expect(parseImageReference(`localhost/app:v1@${D}`)).toEqual({ host: "localhost", repository: "app", tag: "v1", digest: D });
    expect(parseImageReference("nginx")).toEqual({ host: "docker.io", repository: "library/nginx" });
    expect(parseImageReference("myrepo/myimage:v1")).toEqual({ host: "docker.io", repository: "myrepo/myimage", tag: "v1" });
    expect(() => parseImageReference("UPPER/case")).toThrow(/repository/);
    expect(() => parseImageReference("app@sha256:short")).toThrow(/digest/);
    expect(() => parseImageReference("has space")).toThrow(/not an image reference/);
  });
});
