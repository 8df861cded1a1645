// Hostile registry text (headers, references) at 1 MB. The bound is generous on purpose: the failure mode of a
// super-linear parser here is minutes, not milliseconds, and a shared machine is noisy.
import { describe, expect, it } from "vitest";
import { nextLink, parseWwwAuthenticate } from "./client";
import { isRepositoryName, trimTrailingSlashes } from "./reference";

const MB = 1024 * 1024;
const BOUND_MS = 2000;

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t };
}

describe("registry header and reference parsers on 1 MB adversarial input", () => {
  it("parses a WWW-Authenticate challenge of one 1 MB word without '=' in linear time", () => {
    for (const header of [
      `Bearer ${"a".repeat(MB)}`,
      `Bearer ${"a=".repeat(MB / 2)}`,
      `Bearer ${'realm="'.repeat(MB / 7)}`,
      `Bearer ${" ".repeat(MB)}x`,
      `${"a".repeat(MB)} `,
    ]) {
      const r = timed(() => parseWwwAuthenticate(header));
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
  });

  it("still reads ordinary challenges", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.example/token", service: "registry.example", scope: "repository:a/b:pull" },
    });
    expect(parseWwwAuthenticate("Basic realm=Registry")).toEqual({ scheme: "basic", params: { realm: "Registry" } });
    // A bare scheme is a challenge (Basic needs no parameters); nothing before it is.
    expect(parseWwwAuthenticate("Bearer")).toEqual({ scheme: "bearer", params: {} });
    expect(parseWwwAuthenticate("=x")).toBeNull();
  });

  it("finds rel=next in a 1 MB Link header of '<' characters in linear time", () => {
    for (const header of ["<".repeat(MB), `<${"a".repeat(MB)}`, "<a>; rel=prev, ".repeat(MB / 16), `<${">".repeat(MB)}`, `<a>${" ;".repeat(MB / 2)}`]) {
      const r = timed(() => nextLink(header, "https://r.example/v2/_catalog"));
      expect(r.value).toBeNull();
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    expect(nextLink('</v2/_catalog?last=b&n=2>; rel="next"', "https://r.example/v2/_catalog")).toBe("https://r.example/v2/_catalog?last=b&n=2");
    expect(nextLink("</v2/x?n=1>; rel=next", "https://r.example/")).toBe("https://r.example/v2/x?n=1");
  });

  it("judges 1 MB repository names and trims 1 MB of slashes in linear time", () => {
    for (const name of ["a_".repeat(MB / 2), "a-".repeat(MB / 2) + "!", "a/".repeat(MB / 2), "a".repeat(MB) + "_"]) {
      const r = timed(() => isRepositoryName(name));
      expect(r.value).toBe(false);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    const r = timed(() => trimTrailingSlashes("/".repeat(MB) + "x" + "/".repeat(MB)));
    expect(r.value).toHaveLength(MB + 1);
    expect(r.ms).toBeLessThan(BOUND_MS);
  });
});
