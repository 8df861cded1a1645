// Hostile certificate, PEM and identity text at 1 MB (or the parser's own cap). Generous bounds: the failure mode
// of a super-linear parser is minutes.
import { describe, expect, it } from "vitest";
import { importCosignPrivateKey } from "./keys/cosign-key";
import { matchIdentityPattern, matchScope, normalizeDn } from "./trust/identities";
import { pemBlocks } from "./trust/x509";

const MB = 1024 * 1024;
const BOUND_MS = 2000;

function timed<T>(fn: () => T): { value: T; ms: number } {
  const t = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t };
}

describe("signing parsers on adversarial input", () => {
  it("matches many-star globs against long values in linear time, and refuses 1 MB values outright", () => {
    // At the cap the automaton runs: O(value × pattern), where the old RegExp was O(value^stars).
    for (const pattern of ["*a*a*a*a*a*a*a*b", "**a**a**a**a**b"]) {
      const r = timed(() => matchScope(pattern, "a".repeat(8192)));
      expect(r.value).toBe(false);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    expect(matchIdentityPattern("*", "a".repeat(8193))).toBe(false);
    const cases: [string, string, boolean][] = [
      ["*a*a*a*a*a*a*a*b", "a".repeat(MB), false],
      ["**/*a*a*a*a*b", "a/".repeat(MB / 2), false],
      ["**a**a**a**a**b", "a".repeat(MB), false],
      ["?*?*?*?*?*b", "a".repeat(MB), false],
    ];
    for (const [pattern, value, want] of cases) {
      const r = timed(() => matchScope(pattern, value));
      expect(r.value).toBe(want);
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    const san = timed(() => matchIdentityPattern("https://github.com/*/*/*/*/.github/workflows/*@refs/tags/*", `https://github.com/${"a/".repeat(MB / 2)}`));
    expect(san.value).toBe(false);
    expect(san.ms).toBeLessThan(BOUND_MS);
  });

  it("keeps the glob rules: * stays in a segment, ** crosses them, **/ also matches zero segments", () => {
    expect(matchScope("library/*", "library/nginx")).toBe(true);
    expect(matchScope("library/*", "library/a/b")).toBe(false);
    expect(matchScope("**", "a/b/c")).toBe(true);
    expect(matchScope("apps/**/web", "apps/web")).toBe(true);
    expect(matchScope("apps/**/web", "apps/x/y/web")).toBe(true);
    expect(matchScope("apps/**/web", "apps/xweb")).toBe(false);
    expect(matchScope("team-?", "team-a")).toBe(true);
    expect(matchScope("team-?", "team-ab")).toBe(false);
    expect(matchScope("a.b", "axb")).toBe(false);
    expect(matchIdentityPattern("https://github.com/org/*@refs/tags/*", "https://github.com/org/repo/.github/workflows/r.yml@refs/tags/v1")).toBe(true);
    expect(matchIdentityPattern("https://github.com/org/*@refs/tags/*", "https://github.com/evil/x@refs/tags/v1")).toBe(false);
  });

  it("normalizes a 1 MB distinguished name of whitespace and commas in linear time", () => {
    for (const dn of [" ".repeat(MB) + "x", `CN=${" ".repeat(MB)}=`, ", ".repeat(MB / 2), "\\,".repeat(MB / 2), `CN=a${" = ".repeat(MB / 3)}`]) {
      const r = timed(() => normalizeDn(dn));
      expect(r.ms).toBeLessThan(BOUND_MS);
    }
    expect(normalizeDn("CN = a,O=b\nC=DE")).toBe("CN=a, O=b, C=DE");
    expect(normalizeDn("CN=a\\, b")).toBe("CN=a\\, b");
  });

  it("finds PEM blocks in 1 MB of BEGIN lines without END in linear time", () => {
    const text = "-----BEGIN CERTIFICATE-----\n".repeat(MB / 28);
    const r = timed(() => pemBlocks(text, "CERTIFICATE"));
    expect(r.value.blocks).toHaveLength(0);
    expect(r.value.unterminated).toBe(Math.floor(MB / 28));
    expect(r.ms).toBeLessThan(BOUND_MS);
    const two = "x\n-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nBB==\n-----END CERTIFICATE-----\n";
    expect(pemBlocks(two, "CERTIFICATE").blocks).toHaveLength(2);
  });

  it("refuses a cosign key text of BEGIN lines (at its 64 KiB cap) in linear time", async () => {
    const text = "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n".repeat(Math.floor((64 * 1024 - 1) / 47));
    const t = performance.now();
    await expect(importCosignPrivateKey(text, "x")).rejects.toMatchObject({ reason: "NOT_COSIGN_KEY" });
    expect(performance.now() - t).toBeLessThan(BOUND_MS);
  });
});
