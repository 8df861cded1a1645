import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseEvidence } from "./detect";
import { EvidenceError } from "./errors";
import type { Component } from "./model";
import { DocumentGuard, sniffSbomFormat, streamSbom, type StreamedFormat } from "./sbom-stream";

const fixture = (name: string) => readFileSync(join(__dirname, "testdata", name));

async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function run(bytes: Buffer, format: StreamedFormat, size = 7, maxBytes = 1 << 30) {
  const components: Component[] = [];
  const raw: Buffer[] = [];
  const batches: number[] = [];
  const result = await streamSbom(pieces(bytes, size), {
    format,
    maxBytes,
    batchSize: 10,
    rawChunkBytes: 1000,
    sink: {
      components: async (b) => {
        batches.push(b.length);
        components.push(...b);
      },
      raw: async (b) => {
        raw.push(b);
      },
    },
  });
  return { result, components, raw: Buffer.concat(raw), batches };
}

async function refusal(p: Promise<unknown>): Promise<EvidenceError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(EvidenceError);
  return e as EvidenceError;
}

describe("streamSbom gives what the buffered parser gives", () => {
  for (const [name, format] of [
    ["syft-alpine-3.16-cyclonedx-1.4.json", "cyclonedx"],
    ["syft-alpine-3.17-spdx-2.2.json", "spdx"],
    ["trivy-centos-7-cyclonedx-vex.json", "cyclonedx"],
  ] as const) {
    it(`${name}: same components, findings, subjects, tool, time; bytes and digest unchanged`, async () => {
      const bytes = fixture(name);
      expect(sniffSbomFormat(bytes.subarray(0, 4096))).toBe(format);
      const buffered = parseEvidence(bytes);
      const { result, components, raw, batches } = await run(bytes, format);
      expect(components).toEqual(buffered.components);
      expect(result.componentCount).toBe(buffered.components.length);
      expect(result.findings).toEqual(buffered.findings);
      expect(result.subjects).toEqual(buffered.subjects);
      expect(result.kind).toBe(buffered.kind);
      expect(result.tool).toEqual(buffered.tool);
      expect(result.scannedAt).toBe(buffered.scannedAt);
      expect(raw.equals(bytes)).toBe(true);
      expect(result.contentDigest).toBe(`sha256:${createHash("sha256").update(bytes).digest("hex")}`);
      expect(result.size).toBe(bytes.length);
      if (components.length > 10) expect(Math.max(...batches)).toBe(10);
    });
  }
});

describe("streamSbom refuses what the buffered path refuses", () => {
  const cdx = (body: string) => Buffer.from(`{"bomFormat":"CycloneDX","specVersion":"1.5",${body}}`);

  it("with a re-readable source, vulnerabilities resolve their refs in a second pass to the same findings, and an SBOM without vulnerabilities is read once", async () => {
    // Refs that are not purls, one through a BOM-Link into a nested component: only the second pass can name them.
    const byRefs = cdx(
      `"components":[{"bom-ref":"r-1","name":"openssl","version":"1.1.1k","purl":"pkg:rpm/centos/openssl@1.1.1k"},{"bom-ref":"r-2","name":"outer","components":[{"bom-ref":"r-3","name":"zlib","version":"1.2.7"}]}],` +
        `"vulnerabilities":[{"id":"CVE-2026-0001","affects":[{"ref":"r-1"},{"ref":"urn:cdx:3e671687-395b-41f5-a30f-a58921a69b79/1#r-3"}]},{"id":"CVE-2026-0002","affects":[{"ref":"r-404"}]}]`,
    );
    expect(parseEvidence(byRefs).findings.map((f) => f.package)).toEqual(expect.arrayContaining(["openssl", "zlib"]));
    for (const [name, passes] of [
      ["trivy-centos-7-cyclonedx-vex.json", 2],
      ["syft-alpine-3.16-cyclonedx-1.4.json", 1],
      ["refs", 2],
    ] as const) {
      const bytes = name === "refs" ? byRefs : fixture(name);
      const buffered = parseEvidence(bytes);
      let reads = 1;
      const result = await streamSbom(pieces(bytes, 4096), {
        format: "cyclonedx",
        maxBytes: 1 << 30,
        reread: () => {
          reads++;
          return pieces(bytes, 333);
        },
        sink: { components: async () => {}, raw: async () => {} },
      });
      expect(result.findings, name).toEqual(buffered.findings);
      expect(reads, name).toBe(passes);
    }
  });

  it("a vulnerability id with a control character is refused on both paths, naming the finding", async () => {
    const bytes = cdx(
      `"components":[{"bom-ref":"r-1","name":"openssl","version":"1.1.1k","purl":"pkg:rpm/centos/openssl@1.1.1k"}],` +
        `"vulnerabilities":[{"id":"CVE-2026-0001","affects":[{"ref":"r-1"}]},{"id":"CVE-2026-0002\\u0007","affects":[{"ref":"r-1"}]}]`,
    );
    expect(() => parseEvidence(bytes)).toThrow(/finding 2 \("CVE-2026-0002\\u0007"\): its vulnerability id contains control characters/);
    const e = await refusal(run(bytes, "cyclonedx"));
    expect(e.code).toBe("INVALID_DOCUMENT");
    expect(e.message).toMatch(/finding 2 .*: its vulnerability id contains control characters/);
    expect(e.issues).toEqual(["findings[1].id"]);
  });

  it("a document cut off halfway is malformed JSON", async () => {
    const bytes = fixture("syft-alpine-3.16-cyclonedx-1.4.json");
    const e = await refusal(run(bytes.subarray(0, Math.floor(bytes.length / 2)), "cyclonedx"));
    expect(e.code).toBe("MALFORMED_JSON");
  });

  it("garbage halfway through is malformed JSON, after earlier batches went out", async () => {
    const items = Array.from({ length: 50 }, (_, i) => `{"name":"p${i}","version":"1"}`).join(",");
    const e = await refusal(run(cdx(`"components":[${items},{"name":"x",,}]`), "cyclonedx"));
    expect(e.code).toBe("MALFORMED_JSON");
  });

  it("a component that fails the schema names its index", async () => {
    const e = await refusal(run(cdx(`"components":[{"name":"a"},{"version":"1"}]`), "cyclonedx"));
    expect(e.code).toBe("INVALID_DOCUMENT");
    expect(e.message).toContain("components[1].name");
  });

  it("components that are not an array are refused", async () => {
    const e = await refusal(run(cdx(`"components":{"a":{"name":"x"}}`), "cyclonedx"));
    expect(e.code).toBe("INVALID_DOCUMENT");
  });

  it("an unsupported specVersion is refused", async () => {
    const e = await refusal(run(Buffer.from(`{"bomFormat":"CycloneDX","specVersion":"2.0","components":[]}`), "cyclonedx"));
    expect(e.message).toContain("specVersion");
  });

  it("past maxBytes is TOO_LARGE", async () => {
    const e = await refusal(run(fixture("syft-alpine-3.16-cyclonedx-1.4.json"), "cyclonedx", 100, 1000));
    expect(e.code).toBe("TOO_LARGE");
  });

  it("a document that is not the sniffed format is refused", async () => {
    const e = await refusal(run(fixture("syft-alpine-3.17-spdx-2.2.json"), "cyclonedx"));
    expect(e.code).toBe("INVALID_DOCUMENT");
  });

  it("invalid UTF-8 is refused", async () => {
    const e = await refusal(run(Buffer.concat([cdx(`"components":[{"name":"`).subarray(0, -1), Buffer.from([0xc3, 0x28]), Buffer.from(`"}]}`)]), "cyclonedx"));
    expect(e.code).toBe("MALFORMED_JSON");
  });
});

describe("DocumentGuard, chunk boundaries anywhere", () => {
  const feed = (text: string, size: number) => {
    const g = new DocumentGuard();
    const b = Buffer.from(text);
    for (let i = 0; i < b.length; i += size) g.push(b.subarray(i, i + size));
  };
  for (const size of [1, 2, 3, 5, 1000]) {
    it(`pieces of ${size}: refuses \\u0000, a NUL byte, a __proto__ key and deep nesting; allows lookalikes`, () => {
      expect(() => feed(`{"a":"x\\u0000y"}`, size)).toThrow(/NUL/);
      expect(() => feed(`{"a":"x\u0000"}`, size)).toThrow(/NUL/);
      expect(() => feed(`{"b":1, "__proto__" :{}}`, size)).toThrow(/__proto__/);
      expect(() => feed("[".repeat(129) + "]".repeat(129), size)).toThrow(/deeper than 128/);
      feed(`{"a":"\\\\u0000","b":"__proto__","c":["__proto__"],"__proto_":1,"x__proto__":2,"d":"\\u0001"}`, size);
      feed("[".repeat(128) + "]".repeat(128), size);
    });
  }
});
