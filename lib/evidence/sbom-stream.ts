import { createHash } from "node:crypto";
import { JSONParser } from "@streamparser/json";
import { z } from "zod";
import { bom, component as cdxComponentSchema, findingsOf, subjectsOf, toComponent, toolOf as cdxToolOf, vulnerability, type CdxComponent } from "./cyclonedx";
import { assertFindingNames, describeIssues, EvidenceError, invalidDocument } from "./errors";
import type { Component, EvidenceKind, Finding, Subject } from "./model";
import { componentOf, doc as spdxDoc, packageSubjects, pkg as spdxPkg, toolOf as spdxToolOf } from "./spdx";
import { TopLevelKeys, TopLevelTokens } from "./top-level-keys";
import { addSubject, MAX_JSON_DEPTH } from "./util";

/**
 * Streaming ingest of large CycloneDX JSON and SPDX JSON SBOMs (issue 17): the document is read chunk by chunk,
 * hashed and guarded as the bytes go (size cap, nesting depth, NUL, `__proto__` keys: the same refusals as the
 * buffered path), and each component is validated with the same schema as the buffered parser and handed to the
 * sink in batches. Memory holds one batch, one raw chunk and the document's small parts (metadata, subjects,
 * vulnerabilities and bom-refs for CycloneDX, DESCRIBES relationships and subject candidates for SPDX), never the
 * whole document or the whole component list. Framework-free: the server decides where batches and bytes go.
 */

export type StreamedFormat = "cyclonedx" | "spdx";

export interface SbomStreamSink {
  /** Called with each batch of components, in document order (awaited: back-pressure on the reader). */
  components(batch: Component[]): Promise<void>;
  /** Called with the raw bytes in order, in pieces of about `rawChunkBytes`. */
  raw(bytes: Buffer): Promise<void>;
}

export interface StreamSbomOptions {
  /** What the caller sniffed from the document's start; the document must turn out to be it. */
  format: StreamedFormat;
  maxBytes: number;
  sink: SbomStreamSink;
  batchSize?: number;
  rawChunkBytes?: number;
  /**
   * The same bytes again (a spooled file). When given, CycloneDX components' bom-refs are not kept during the
   * pass (memory that grows with the component count); if the document has vulnerabilities, a second pass reads
   * just the components their `affects` refs name.
   */
  reread?: () => AsyncIterable<Uint8Array>;
}

export interface StreamedSbom {
  format: StreamedFormat;
  kind: EvidenceKind;
  componentCount: number;
  findings: Finding[];
  subjects: Subject[];
  scannedAt?: string;
  tool?: { name: string; version?: string };
  /** sha256 of every byte read, as `sha256:<hex>`. */
  contentDigest: string;
  size: number;
}

/**
 * A byte-level guard, chunk boundaries anywhere: refuses nesting past MAX_JSON_DEPTH, a NUL byte or `\u0000`
 * escape (Postgres refuses NUL in text) and a `"__proto__"` key, like assertStorableDocument + assertJsonDepth.
 */
export class DocumentGuard {
  private depth = 0;
  private inString = false;
  /** -1: not after a backslash; 0: just after one; 1..4: hex digits of a \u escape read so far (all "0"). */
  private esc = -1;
  private unicodeZeros = 0;
  /** The first bytes of the current string (enough to recognise "__proto__"), or null once it is longer. */
  private head: number[] | null = null;
  /** After a closing `"__proto__"`: a colon (after whitespace) makes it a key. */
  private protoPending = false;
  private offset = 0;

  constructor(private readonly maxDepth = MAX_JSON_DEPTH) {}

  push(bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; i++, this.offset++) {
      const c = bytes[i]!;
      if (c === 0) throw new EvidenceError("INVALID_DOCUMENT", `the document contains a NUL byte (at byte ${this.offset}), which cannot be stored`);
      if (this.inString) {
        if (this.esc >= 0) {
          if (this.esc === 0) {
            if (c === 0x75) {
              this.esc = 1;
              this.unicodeZeros = 0;
            } else this.esc = -1;
          } else {
            if (c === 0x30) this.unicodeZeros++;
            if (this.esc === 4) {
              if (this.unicodeZeros === 4)
                throw new EvidenceError("INVALID_DOCUMENT", `the document contains a NUL character (\\u0000 near byte ${this.offset}), which cannot be stored`);
              this.esc = -1;
            } else this.esc++;
          }
          this.head = null;
          continue;
        }
        if (c === 0x5c) {
          this.esc = 0;
          this.head = null;
        } else if (c === 0x22) {
          this.inString = false;
          if (this.head && this.head.length === 9 && String.fromCharCode(...this.head) === "__proto__") this.protoPending = true;
          this.head = null;
        } else if (this.head) {
          if (this.head.length < 9) this.head.push(c);
          else this.head = null;
        }
        continue;
      }
      if (this.protoPending) {
        if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
        if (c === 0x3a) throw new EvidenceError("INVALID_DOCUMENT", `the document has a "__proto__" key (near byte ${this.offset})`);
        this.protoPending = false;
      }
      if (c === 0x22) {
        this.inString = true;
        this.head = [];
      } else if (c === 0x5b || c === 0x7b) {
        if (++this.depth > this.maxDepth)
          throw new EvidenceError("INVALID_DOCUMENT", `the document nests arrays and objects deeper than ${this.maxDepth} levels`);
      } else if (c === 0x5d || c === 0x7d) this.depth--;
    }
  }
}

/**
 * Which streamable SBOM format a document's first bytes declare at its top level (`"bomFormat": "CycloneDX"` or
 * `"spdxVersion": "SPDX-…"`), or null (not JSON, another format, or the key comes later).
 */
export function sniffSbomFormat(prefix: Uint8Array): StreamedFormat | null {
  let found: StreamedFormat | null = null;
  const parser = new JSONParser({ paths: ["$.bomFormat", "$.spdxVersion"], keepStack: false });
  parser.onValue = ({ value, key }) => {
    if (key === "bomFormat" && value === "CycloneDX") found = "cyclonedx";
    else if (key === "spdxVersion" && typeof value === "string" && value.startsWith("SPDX-")) found = "spdx";
  };
  parser.onError = () => {};
  try {
    parser.write(prefix);
  } catch {
    return null;
  }
  return found;
}

const MAX_ISSUES = 20;
const cdxMetadataShell = bom.pick({ bomFormat: true, specVersion: true, serialNumber: true, metadata: true });
const spdxShell = spdxDoc.pick({ spdxVersion: true, SPDXID: true, name: true, creationInfo: true });
const relationship = z.object({ spdxElementId: z.string().nullish(), relationshipType: z.string().nullish(), relatedSpdxElement: z.string().nullish() });

type Json = unknown;

/** A flat copy of a string that shares no storage with the text it was cut from. */
const own = (s: string): string => Buffer.from(s, "utf8").toString("utf8");

/**
 * Streams one CycloneDX or SPDX JSON document from `source` into `sink`; throws EvidenceError on any refusal. The
 * source hands over each chunk it yields (it never writes to one again), as a file read into fresh buffers does.
 */
// eslint-disable-next-line max-lines-per-function -- one streaming parse: the parser's callbacks share the byte guard, the hash, the batch and the refusal state; split apart they would pass all of it around
export async function streamSbom(
  source: AsyncIterable<Uint8Array>,
  { format, maxBytes, sink, batchSize = 1000, rawChunkBytes = 1 << 20, reread }: StreamSbomOptions,
): Promise<StreamedSbom> {
  const label = format === "cyclonedx" ? "CycloneDX" : "SPDX";
  const hash = createHash("sha256");
  const guard = new DocumentGuard();
  // Top-level scalars by name; every element of every top-level container on its own (`$.*.*`), so no large
  // array is ever assembled whole. keepStack: false drops each element from its parent once emitted.
  const parser = new JSONParser({
    paths: ["$.bomFormat", "$.specVersion", "$.serialNumber", "$.spdxVersion", "$.SPDXID", "$.name", "$.*.*"],
    keepStack: false,
  });
  const top: Record<string, Json> = Object.create(null);
  const containers: Record<string, Record<string, Json>> = Object.create(null);
  // Repeated top-level keys and lists that are not lists: refused as the buffered path refuses them (issue 17).
  const shape = new TopLevelKeys(format);
  const topKeys = new TopLevelTokens(shape);
  let rootIsObject: boolean | null = null;
  const issues: string[] = [];
  let pending: Component[] = [];
  let componentCount = 0;
  // CycloneDX: affects refs resolve to components; only name, version and purl are kept per ref.
  const byRef = new Map<string, CdxComponent>();
  const vulnerabilities: z.infer<typeof vulnerability>[] = [];
  // SPDX: each package's subject candidates (SPDXID, purpose), filtered by what the document describes at the end.
  const candidates: { id: string; container: boolean; subjects: Subject[] }[] = [];
  const described = new Set<string>();
  const relationships: z.infer<typeof relationship>[] = [];
  let parseError: Error | null = null;

  const fail = (path: (string | number)[], error: z.ZodError, input: unknown) => {
    for (const m of describeIssues(error.issues, input, path)) if (issues.length < MAX_ISSUES) issues.push(m);
    throw invalidDocument(label, issues);
  };

  const element = (container: string, index: string | number, value: Json) => {
    if (format === "cyclonedx" && container === "components") {
      const r = cdxComponentSchema.safeParse(value);
      if (!r.success) return fail(["components", index], r.error, value);
      // Assemblies: nested components are flattened depth-first, as the buffered parser does.
      const stack: CdxComponent[] = [r.data];
      while (stack.length) {
        const c = stack.pop()!;
        pending.push(toComponent(c));
        componentCount++;
        const ref = c["bom-ref"];
        // Copies: a parser's string may be a slice of a whole decoded chunk, which a kept slice would pin in memory.
        if (ref && !reread && !byRef.has(ref))
          byRef.set(own(ref), { name: own(c.name), ...(c.version ? { version: own(c.version) } : {}), ...(c.purl ? { purl: own(c.purl) } : {}) });
        if (c.components?.length) for (let i = c.components.length - 1; i >= 0; i--) stack.push(c.components[i]!);
      }
    } else if (format === "cyclonedx" && container === "vulnerabilities") {
      const r = vulnerability.safeParse(value);
      if (!r.success) return fail(["vulnerabilities", index], r.error, value);
      vulnerabilities.push(r.data);
    } else if (format === "spdx" && container === "packages") {
      const r = spdxPkg.safeParse(value);
      if (!r.success) return fail(["packages", index], r.error, value);
      pending.push(componentOf(r.data));
      componentCount++;
      const subjects = packageSubjects(r.data);
      if (subjects.length) candidates.push({ id: r.data.SPDXID, container: r.data.primaryPackagePurpose === "CONTAINER", subjects });
    } else if (format === "spdx" && container === "documentDescribes") {
      if (typeof value !== "string")
        return fail(
          ["documentDescribes", index],
          new z.ZodError([{ code: "invalid_type", expected: "string", path: [], message: "Invalid input: expected string" } as never]),
          value,
        );
      described.add(value);
    } else if (format === "spdx" && container === "relationships") {
      const r = relationship.safeParse(value);
      if (!r.success) return fail(["relationships", index], r.error, value);
      if (r.data.relationshipType === "DESCRIBES" || r.data.relationshipType === "DESCRIBED_BY") relationships.push(r.data);
    } else if (container === "metadata" || container === "creationInfo") {
      // Small objects: put back together and validated with the document shell at the end.
      (containers[container] ??= Object.create(null) as Record<string, Json>)[String(index)] = value;
    }
    // Anything else (dependencies, files, compositions, …) is not read by the buffered parser either: dropped.
  };

  parser.onValue = ({ value, key, parent, stack }) => {
    if (parseError) return;
    try {
      if (stack.length === 1) {
        rootIsObject ??= !Array.isArray(parent);
        top[String(key)] = value;
      } else if (stack.length === 2) {
        element(String(stack[1]!.key), key as string | number, value);
      }
    } catch (e) {
      parseError = e as Error;
    }
  };
  parser.onError = (e) => {
    parseError ??= new EvidenceError("MALFORMED_JSON", `the document is not valid JSON: ${e.message}`);
  };
  parser.onToken = ({ token, value }) => {
    if (parseError) return;
    try {
      topKeys.push(token, value);
    } catch (e) {
      parseError = e as Error;
    }
  };

  let total = 0;
  let rawParts: Buffer[] = [];
  let rawSize = 0;
  const flushRaw = async () => {
    if (!rawSize) return;
    const b = rawParts.length === 1 ? rawParts[0]! : Buffer.concat(rawParts, rawSize);
    rawParts = [];
    rawSize = 0;
    await sink.raw(b);
  };
  const flushComponents = async (all: boolean) => {
    while (pending.length >= batchSize || (all && pending.length)) {
      const batch = pending.slice(0, batchSize);
      pending = pending.slice(batch.length);
      await sink.components(batch);
    }
  };

  for await (const chunk of source) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new EvidenceError("TOO_LARGE", `the document is larger than ${maxBytes} bytes`);
    hash.update(chunk);
    guard.push(chunk);
    // A chunk that owns its whole buffer is kept as it is (sources hand over each chunk they yield: none is written
    // to again); a view into a larger buffer is copied, so that keeping it does not keep the rest of that buffer.
    const owns = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
    rawParts.push(owns ? Buffer.from(chunk.buffer, 0, chunk.byteLength) : Buffer.from(chunk));
    rawSize += chunk.byteLength;
    if (rawSize >= rawChunkBytes) await flushRaw();
    try {
      parser.write(chunk);
    } catch (e) {
      parseError ??= new EvidenceError("MALFORMED_JSON", `the document is not valid JSON: ${(e as Error).message}`);
    }
    if (parseError) throw parseError;
    await flushComponents(false);
  }
  if (total === 0) throw new EvidenceError("MALFORMED_JSON", "the document is empty");
  try {
    // The parser ends by itself once the top-level value closes; end() then would be an error.
    if (!parser.isEnded) parser.end();
  } catch (e) {
    parseError ??= new EvidenceError("MALFORMED_JSON", `the document is not valid JSON: ${(e as Error).message}`);
  }
  if (parseError) throw parseError;
  if (!parser.isEnded) throw new EvidenceError("MALFORMED_JSON", "the document is not valid JSON: it ends too early");
  if (rootIsObject === false) throw new EvidenceError("UNKNOWN_FORMAT", "not a CycloneDX or SPDX document: a JSON array");
  await flushComponents(true);
  await flushRaw();

  const contentDigest = `sha256:${hash.digest("hex")}`;

  if (format === "cyclonedx") {
    const shellInput = {
      bomFormat: top.bomFormat,
      specVersion: top.specVersion,
      serialNumber: top.serialNumber,
      ...(containers.metadata ? { metadata: containers.metadata } : shape.kindOf("metadata") === "object" ? { metadata: {} } : {}),
    };
    const shell = cdxMetadataShell.safeParse(shellInput);
    if (!shell.success) throw invalidDocument(label, describeIssues(shell.error.issues, shellInput, []));
    const m = /^1\.(\d+)$/.exec(shell.data.specVersion);
    if (!m || Number(m[1]) < 2)
      throw new EvidenceError("INVALID_DOCUMENT", `${label}: specVersion ${JSON.stringify(shell.data.specVersion)} is not supported (1.2 to 1.6 are)`, [
        "specVersion",
      ]);
    const t = cdxToolOf(shell.data.metadata?.tools);
    if (reread && vulnerabilities.length) await refsFromSecondPass(reread(), vulnerabilities, byRef);
    const { findings, hasAnalysis } = findingsOf(vulnerabilities, byRef, t, shell.data.metadata?.component?.name ?? undefined);
    assertFindingNames(findings);
    const kind: EvidenceKind = hasAnalysis ? "vex" : vulnerabilities.length ? "scan" : "sbom";
    const scannedAt = shell.data.metadata?.timestamp;
    return {
      format,
      kind,
      componentCount,
      findings,
      subjects: subjectsOf(shell.data.metadata?.component),
      ...(scannedAt ? { scannedAt } : {}),
      ...(t ? { tool: t } : {}),
      contentDigest,
      size: total,
    };
  }

  const shellInput = {
    spdxVersion: top.spdxVersion,
    SPDXID: top.SPDXID,
    name: top.name,
    ...(containers.creationInfo ? { creationInfo: containers.creationInfo } : shape.kindOf("creationInfo") === "object" ? { creationInfo: {} } : {}),
  };
  const shell = spdxShell.safeParse(shellInput);
  if (!shell.success) throw invalidDocument(label, describeIssues(shell.error.issues, shellInput, []));
  if (!/^SPDX-2\.\d+$/.test(shell.data.spdxVersion)) {
    throw new EvidenceError(
      "INVALID_DOCUMENT",
      `${label}: spdxVersion ${JSON.stringify(shell.data.spdxVersion)} is not supported (SPDX-2.2 and SPDX-2.3 are)`,
      ["spdxVersion"],
    );
  }
  const docId = shell.data.SPDXID ?? "SPDXRef-DOCUMENT";
  for (const r of relationships) {
    if (r.relationshipType === "DESCRIBES" && r.spdxElementId === docId && r.relatedSpdxElement) described.add(r.relatedSpdxElement);
    if (r.relationshipType === "DESCRIBED_BY" && r.relatedSpdxElement === docId && r.spdxElementId) described.add(r.spdxElementId);
  }
  const subjects: Subject[] = [];
  for (const c of candidates) if (c.container || described.has(c.id)) for (const s of c.subjects) addSubject(subjects, s);
  const t = spdxToolOf(shell.data.creationInfo?.creators);
  const scannedAt = shell.data.creationInfo?.created;
  return {
    format,
    kind: "sbom",
    componentCount,
    findings: [],
    subjects,
    ...(scannedAt ? { scannedAt } : {}),
    ...(t ? { tool: t } : {}),
    contentDigest,
    size: total,
  };
}

/** An `affects` ref and, for a BOM-Link, the bom-ref its fragment names (what resolveRef looks up). */
function refKeys(ref: string): string[] {
  const link = /^urn:cdx:[^/#]+\/\d+#(.+)$/s.exec(ref);
  if (!link) return [ref];
  let target = link[1]!;
  try {
    target = decodeURIComponent(target);
  } catch {
    // taken literally, as resolveRef does
  }
  return [ref, target];
}

/**
 * The second pass of a CycloneDX document whose vulnerabilities name components: only the components their refs
 * name are kept (name, version, purl), first occurrence in the same depth-first order as the first pass. The bytes
 * were validated by the first pass.
 */
async function refsFromSecondPass(
  source: AsyncIterable<Uint8Array>,
  vulnerabilities: readonly z.infer<typeof vulnerability>[],
  byRef: Map<string, CdxComponent>,
): Promise<void> {
  const wanted = new Set<string>();
  for (const v of vulnerabilities) for (const a of v.affects ?? []) for (const k of refKeys(a.ref)) wanted.add(k);
  if (!wanted.size) return;
  const parser = new JSONParser({ paths: ["$.components.*"], keepStack: false });
  const str = (x: unknown): string | undefined => (typeof x === "string" ? own(x) : undefined);
  parser.onValue = ({ value }) => {
    const stack: unknown[] = [value];
    while (stack.length) {
      const c = stack.pop() as Record<string, unknown> | null;
      if (!c || typeof c !== "object") continue;
      const ref = c["bom-ref"];
      if (typeof ref === "string" && wanted.has(ref) && !byRef.has(ref)) {
        const version = str(c.version);
        const purl = str(c.purl);
        byRef.set(own(ref), { name: str(c.name) ?? "", ...(version ? { version } : {}), ...(purl ? { purl } : {}) });
      }
      if (Array.isArray(c.components)) for (let i = c.components.length - 1; i >= 0; i--) stack.push(c.components[i]);
    }
  };
  for await (const chunk of source) {
    parser.write(chunk);
    if (parser.isEnded) break;
  }
}
