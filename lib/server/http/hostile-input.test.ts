import { describe, expect, it } from "vitest";
import { AppError } from "../../errors";
import {
  assertCleanJson,
  assertCleanParams,
  assertCleanSearchParams,
  assertJsonTextDepth,
  assertNoNul,
  assertStorableDocument,
  decodeUtf8Strict,
  jsonNestingDepth,
  readCleanParams,
} from "./hostile-input";

function refusal(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

describe("hostile JSON bodies", () => {
  it("refuses a NUL in any string field and names the field", () => {
    const e = refusal(() => assertCleanJson({ stage: "prod", nested: { list: ["ok", "a\u0000b"] } }));
    expect(e.code).toBe("INVALID_INPUT");
    expect(e.status).toBe(422);
    expect(e.message).toContain("nested.list[1]");
    expect(e.message).toContain("NUL");
    expect(e.field).toBe("nested");
  });

  it("refuses a NUL even in free-text fields", () => {
    expect(refusal(() => assertCleanJson({ comment: "looks fine\u0000" })).message).toContain("comment");
  });

  it("allows line breaks and tabs in free-text fields and PEM, but not in names", () => {
    expect(() => assertCleanJson({ comment: "line 1\r\nline\t2", publicKeyPem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n" })).not.toThrow();
    expect(refusal(() => assertCleanJson({ stage: "prod\n" })).message).toMatch(/stage: must not contain control characters \(found U\+000A/);
    expect(refusal(() => assertCleanJson({ note: "bell\u0007" })).message).toContain("U+0007");
    expect(refusal(() => assertCleanJson({ name: "x\u0085" })).message).toContain("U+0085");
  });

  it("refuses __proto__, constructor and prototype keys at any depth", () => {
    for (const key of ["__proto__", "constructor", "prototype"]) {
      const parsed = JSON.parse(`{"a":{"${key}":{"isAdmin":true}}}`);
      const e = refusal(() => assertCleanJson(parsed));
      expect(e.message).toContain(`a.${key}`);
    }
  });

  it("refuses control characters in keys", () => {
    expect(refusal(() => assertCleanJson({ "a\u0000": 1 })).message).toContain("key");
  });

  it("refuses nesting past the cap, both before and after parsing", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    expect(jsonNestingDepth(deep, 40)).toBe(41);
    expect(refusal(() => assertJsonTextDepth(deep)).message).toContain("nested deeper");
    // brackets inside strings do not count
    expect(jsonNestingDepth(JSON.stringify({ s: '[[[[{{{{\\"[[' }))).toBe(1);
    let v: unknown = 1;
    for (let i = 0; i < 40; i++) v = { v };
    expect(refusal(() => assertCleanJson(v)).message).toContain("nested deeper than 32");
  });

  it("accepts ordinary bodies", () => {
    expect(() => assertCleanJson({ repository: "team/app", digest: `sha256:${"a".repeat(64)}`, stage: "prod", note: "" })).not.toThrow();
  });
});

describe("hostile query strings and path params", () => {
  it("refuses NUL and control characters in query values and names", () => {
    expect(refusal(() => assertCleanSearchParams(new URLSearchParams("stage=a%00b"))).field).toBe("stage");
    expect(refusal(() => assertCleanSearchParams(new URLSearchParams("q=a%0Ab"))).message).toContain("U+000A");
    expect(refusal(() => assertCleanSearchParams(new URLSearchParams("a%01=1"))).field).toBe("query");
    expect(() => assertCleanSearchParams(new URLSearchParams("view=inbox&limit=5"))).not.toThrow();
  });

  it("refuses NUL, control characters and malformed escapes in route params", () => {
    expect(refusal(() => assertCleanParams({ name: "reg\u0000" })).field).toBe("name");
    expect(refusal(() => assertCleanParams({ ref: ["team", "app\u001b[31m"] })).field).toBe("ref");
    expect(refusal(() => assertCleanParams({ id: "%E0%A4%A" })).message).toContain("malformed URL escape");
    expect(() => assertCleanParams({ ref: ["team", "app", "sha256:abc"] })).not.toThrow();
  });

  it("turns a params promise that fails to decode into a 422", async () => {
    await expect(readCleanParams(Promise.reject(new URIError("URI malformed")), new URLSearchParams())).rejects.toMatchObject({
      code: "INVALID_INPUT",
      field: "path",
    });
  });
});

describe("hostile documents (evidence) and encodings", () => {
  const doc = (s: string) => Buffer.from(s, "utf8");

  it("refuses evidence nested past 256 levels before parsing, counting only structure outside strings", () => {
    const deep = `{"components":${"[".repeat(300)}${"]".repeat(300)}}`;
    expect(refusal(() => assertStorableDocument(doc(deep))).message).toContain("nested deeper than 256");
    expect(() => assertStorableDocument(doc(JSON.stringify({ name: "[".repeat(10_000) })))).not.toThrow();
  });

  it("refuses NUL as an escape or a raw byte, but not an escaped backslash followed by u0000", () => {
    expect(refusal(() => assertStorableDocument(doc('{"name":"a\\u0000"}'))).message).toContain("NUL");
    expect(refusal(() => assertStorableDocument(Buffer.from([0x7b, 0x00, 0x7d]))).message).toContain("NUL byte");
    expect(() => assertStorableDocument(doc('{"name":"a\\\\u0000"}'))).not.toThrow();
  });

  it("refuses __proto__ keys but not the word as a value", () => {
    expect(refusal(() => assertStorableDocument(doc('{"a":{"__proto__" :{"x":1}}}'))).message).toContain("__proto__");
    expect(() => assertStorableDocument(doc('{"a":"__proto__"}'))).not.toThrow();
  });

  it("finds NUL in parsed data, including strings decoded from inside a document", () => {
    expect(refusal(() => assertNoNul({ subjects: [{ name: "x" }], predicate: { builder: { id: "https://b\u0000" } } })).message).toContain(
      "predicate.builder.id",
    );
    expect(() => assertNoNul({ a: ["b", { c: 1 }], d: new Uint8Array([0]) })).not.toThrow();
  });

  it("refuses invalid UTF-8 instead of replacing it", () => {
    expect(refusal(() => decodeUtf8Strict(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))).code).toBe("BAD_REQUEST");
    expect(decodeUtf8Strict(Buffer.from('{"a":"ü"}'))).toBe('{"a":"ü"}');
  });
});
