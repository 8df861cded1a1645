// Version strings come from SBOMs and scans (hostile uploads and registry data): every ecosystem's comparison and
// the query parser, on 1 MB adversarial strings. Generous bounds: the failure mode of a super-linear parser is
// minutes.
import { describe, expect, it } from "vitest";
import { compareVersions } from "./compare";
import { matches, parseQuery } from "./range";

const MB = 1024 * 1024;
const BOUND_MS = 2000;
const ECOSYSTEMS = ["npm", "pypi", "maven", "deb", "rpm", "apk", "golang", "cargo", "generic"];
const SHAPES = [
  "1".repeat(MB),
  "1.".repeat(MB / 2),
  "a1".repeat(MB / 2),
  "0".repeat(MB) + "1",
  "-".repeat(MB),
  "1-".repeat(MB / 2),
  "~".repeat(MB),
  "1:".repeat(MB / 2),
  "v" + "0.".repeat(MB / 2),
  "1.0-" + "rc.".repeat(MB / 3),
  "1" + "+".repeat(MB),
  " ".repeat(MB) + "1",
];

describe("version parsers on 1 MB adversarial strings", () => {
  for (const eco of ECOSYSTEMS) {
    it(`compares hostile ${eco} versions in linear time`, () => {
      for (const v of SHAPES) {
        const t = performance.now();
        compareVersions(eco, v, `${v}x`);
        compareVersions(eco, "1.0.0", v);
        matches(eco, v, [{ op: "<", version: "3.0.7" } as never]);
        expect(performance.now() - t, `${eco} on ${JSON.stringify(v.slice(0, 12))}…`).toBeLessThan(BOUND_MS);
      }
    });
  }

  it("parses hostile package queries in linear time (or refuses them by length)", () => {
    for (const q of [
      "a".repeat(MB),
      `openssl ${"<".repeat(MB)}`,
      `pkg:${"/".repeat(MB)}`,
      `x vers:${"deb/".repeat(MB / 4)}`,
      `x ${" vers:".repeat(MB / 6)}`,
      `openssl ${"<=1,".repeat(MB / 4)}`,
    ]) {
      const t = performance.now();
      try {
        parseQuery(q);
      } catch {
        // a QueryError is a fine answer; only the time matters here
      }
      expect(performance.now() - t).toBeLessThan(BOUND_MS);
    }
  });
});
