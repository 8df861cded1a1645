import { describe, expect, it } from "vitest";
import { wellFormed, wellFormedJson } from "./well-formed-json";

describe("well-formed JSON for jsonb", () => {
  it("replaces lone surrogates in values and keys with U+FFFD and keeps real pairs", () => {
    const hostile = { ["k\ud800"]: "a\udc00b", nested: [{ x: "\ud83d\ude00 ok" }, "\ud800"], n: 1, t: true, z: null };
    const out = wellFormedJson(hostile);
    expect(out).not.toMatch(/\\ud[89a-f]/i);
    expect(JSON.parse(out)).toEqual({ ["k\ufffd"]: "a\ufffdb", nested: [{ x: "\u{1f600} ok" }, "\ufffd"], n: 1, t: true, z: null });
    expect(wellFormed("plain")).toBe("plain");
    expect(wellFormedJson({ a: "plain" })).toBe(JSON.stringify({ a: "plain" }));
  });

  it("replaces U+0000, which jsonb refuses, in values and keys too", () => {
    // Found by review: an identity provider's email claim with a NUL reached an audit detail, whose write then failed.
    expect(JSON.parse(wellFormedJson({ reason: "a\u0000b", ["k\u0000"]: 1 }))).toEqual({ reason: "a\ufffdb", ["k\ufffd"]: 1 });
  });
});
