import { describe, expect, it } from "vitest";
import { parseEvidence } from "./detect";
import { EvidenceError } from "./errors";
import type { Component } from "./model";
import { streamSbom, type StreamedFormat } from "./sbom-stream";
import { topLevelKeysOf } from "./top-level-keys";

// Issue 17 (c): the buffered parser (JSON.parse + schema) and the streamed one must give one answer per document on
// a repeated top-level key and on a list that is not a list. The same inputs go through both paths.

async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

type Outcome = { refused: string; code: string } | { components: Component[] };

async function streamed(text: string, format: StreamedFormat, size: number): Promise<Outcome> {
  const components: Component[] = [];
  try {
    await streamSbom(pieces(Buffer.from(text), size), {
      format,
      maxBytes: 1 << 20,
      batchSize: 2,
      sink: { components: async (b) => void components.push(...b), raw: async () => {} },
    });
    return { components };
  } catch (e) {
    if (!(e instanceof EvidenceError)) throw e;
    return { refused: e.message, code: e.code };
  }
}

function buffered(text: string): Outcome {
  try {
    return { components: parseEvidence(Buffer.from(text)).components };
  } catch (e) {
    if (!(e instanceof EvidenceError)) throw e;
    return { refused: e.message, code: e.code };
  }
}

const cdx = (body: string) => `{"bomFormat":"CycloneDX","specVersion":"1.5",${body}}`;
const spdx = (body: string) =>
  `{"spdxVersion":"SPDX-2.3","SPDXID":"SPDXRef-DOCUMENT","name":"x","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: t"]},${body}}`;
const pkg = (n: string) => `{"SPDXID":"SPDXRef-${n}","name":"${n}"}`;

// [what, format, document, expected: the key the refusal names, or the number of components accepted]
const CASES: [string, StreamedFormat, string, string | number][] = [
  ["a repeated components key", "cyclonedx", cdx(`"components":[{"name":"a"}],"components":[{"name":"b"},{"name":"c"}]`), "components is given more than once"],
  [
    "a repeated components key whose second list is empty",
    "cyclonedx",
    cdx(`"components":[{"name":"a"}],"components":[]`),
    "components is given more than once",
  ],
  [
    "a repeated components key spelled with an escape",
    "cyclonedx",
    cdx(`"components":[{"name":"a"}], "compo\\u006eents" : [{"name":"b"}]`),
    "components is given more than once",
  ],
  [
    "a repeated metadata key",
    "cyclonedx",
    cdx(`"metadata":{"timestamp":"2026-01-01T00:00:00Z"},"components":[],"metadata":{}`),
    "metadata is given more than once",
  ],
  ["components as an object", "cyclonedx", cdx(`"components":{"a":{"name":"x"}}`), "components should be an array, not an object"],
  ["components as a string", "cyclonedx", cdx(`"components":"[{\\"name\\":\\"x\\"}]"`), "components should be an array, not a string"],
  ["components as a number", "cyclonedx", cdx(`"components":5`), "components should be an array, not a number"],
  ["components as true", "cyclonedx", cdx(`"components":true`), "components should be an array, not a boolean"],
  ["vulnerabilities as an object", "cyclonedx", cdx(`"components":[],"vulnerabilities":{}`), "vulnerabilities should be an array, not an object"],
  ["metadata as an array", "cyclonedx", cdx(`"metadata":[],"components":[]`), "metadata should be an object, not an array"],
  ["components null (allowed by the schema)", "cyclonedx", cdx(`"components":null`), 0],
  ["the same key inside a component (not top level)", "cyclonedx", cdx(`"components":[{"name":"a","name":"b"}]`), 1],
  ["a plain list", "cyclonedx", cdx(`"components":[{"name":"a"},{"name":"b","components":[{"name":"c"}]}]`), 3],
  ["a repeated packages key", "spdx", spdx(`"packages":[${pkg("a")}],"packages":[${pkg("b")}]`), "packages is given more than once"],
  ["packages as an object", "spdx", spdx(`"packages":{"a":${pkg("a")}}`), "packages should be an array, not an object"],
  ["packages as a string", "spdx", spdx(`"packages":"x"`), "packages should be an array, not a string"],
  ["relationships as a number", "spdx", spdx(`"packages":[],"relationships":1`), "relationships should be an array, not a number"],
  ["documentDescribes as a string", "spdx", spdx(`"documentDescribes":"SPDXRef-a","packages":[]`), "documentDescribes should be an array, not a string"],
  ["packages null", "spdx", spdx(`"packages":null`), 0],
  ["two packages", "spdx", spdx(`"packages":[${pkg("a")},${pkg("b")}]`), 2],
  [
    "an SBOM that is also a DSSE envelope (the signed payload vs the unsigned outer components)",
    "cyclonedx",
    cdx(`"components":[{"name":"outer"}],"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[]`),
    "payloadType at the top level makes this CycloneDX document also a signed envelope",
  ],
  [
    "an SBOM that is also an in-toto statement",
    "cyclonedx",
    cdx(`"_type":"https://in-toto.io/Statement/v1","subject":[],"components":[{"name":"x"}]`),
    "_type at the top level",
  ],
  ["an SPDX document that is also a Sigstore bundle", "spdx", spdx(`"verificationMaterial":{},"packages":[]`), "verificationMaterial at the top level"],
];

describe("the buffered and the streamed CycloneDX paths agree on a repeated bom-ref", () => {
  it("the first component with a bom-ref keeps it: a vulnerability's affects names the same package on both paths", async () => {
    const text = cdx(
      `"components":[{"bom-ref":"x","name":"openssl","version":"3.0.0"},{"bom-ref":"x","name":"zlib","version":"1.2.13"}],` +
        `"vulnerabilities":[{"id":"CVE-2099-0001","affects":[{"ref":"x"}]}]`,
    );
    const a = parseEvidence(Buffer.from(text));
    expect(a.findings.map((f) => f.package)).toEqual(["openssl"]);
    const found: string[] = [];
    await streamSbom(pieces(Buffer.from(text), 17), {
      format: "cyclonedx",
      maxBytes: 1 << 20,
      batchSize: 2,
      sink: { components: async () => {}, raw: async () => {} },
    }).then((r) => found.push(...r.findings.map((f) => f.package)));
    expect(found).toEqual(["openssl"]);
  });
});

describe("the buffered and the streamed SBOM paths agree on top-level keys", () => {
  for (const [what, format, text, expected] of CASES) {
    it(`${format}: ${what} → ${typeof expected === "number" ? `accepted with ${expected} components` : "refused naming the key"} on both paths`, async () => {
      const a = buffered(text);
      for (const size of [3, 64, text.length]) {
        const b = await streamed(text, format, size);
        expect(b, `pieces of ${size}`).toEqual(a);
      }
      if (typeof expected === "number") {
        expect("components" in a && a.components.length).toBe(expected);
      } else {
        expect(a).toMatchObject({ code: "INVALID_DOCUMENT" });
        expect("refused" in a && a.refused).toContain(expected);
      }
    });
  }
});

describe("topLevelKeysOf", () => {
  it("lists the top-level keys with their kinds, escapes decoded, ignoring keys and key-like strings deeper down", () => {
    const text = `{ "a" : {"a":1,"b":[{"c":2}]}, "b\\u0022q": "x:y", "c":[":",{"d":":"}] ,"d":null,"e":-1,"f":true, "g": "\\\\" , "h": {}}`;
    expect(JSON.parse(text)).toBeTruthy();
    expect(topLevelKeysOf(text)).toEqual([
      { key: "a", kind: "object" },
      { key: 'b"q', kind: "string" },
      { key: "c", kind: "array" },
      { key: "d", kind: "null" },
      { key: "e", kind: "number" },
      { key: "f", kind: "boolean" },
      { key: "g", kind: "string" },
      { key: "h", kind: "object" },
    ]);
  });
});
