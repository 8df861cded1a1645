import { cycloneDxSteps, looksLikeCycloneDx } from "./cyclonedx";
import { dsseSteps, looksLikeDsse, looksLikeSigstoreBundle, sigstoreBundleSteps } from "./dsse";
import { assertFindingNames, EvidenceError, runAsync, runSync, type Steps } from "./errors";
import { looksLikeGrype, parseGrype } from "./grype";
import { inTotoSteps, looksLikeInToto } from "./intoto";
import type { EvidenceKind, ParsedEvidence, Subject } from "./model";
import { looksLikeSpdx, spdxSteps } from "./spdx";
import { assertTopLevelKeys } from "./top-level-keys";
import { looksLikeLegacyTrivy, looksLikeTrivy, parseTrivy } from "./trivy";
import { addSubject, assertJsonDepth, assertJsonDepthSteps, TOP, type ParseContext } from "./util";

export { EvidenceError, type EvidenceErrorCode } from "./errors";
export type * from "./model";

const FORMATS = "Trivy, Grype, CycloneDX, SPDX, in-toto or DSSE";

function decodeText(input: Buffer | Uint8Array | string): string {
  if (typeof input === "string") return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  let text: string;
  try {
    // ignoreBOM: false (the default) drops a leading UTF-8 BOM.
    text = new TextDecoder("utf-8", { fatal: true }).decode(input);
  } catch {
    throw new EvidenceError("MALFORMED_JSON", "the document is not UTF-8 text");
  }
  return text;
}

function jsonError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Most statements one JSON Lines upload may hold. */
export const MAX_JSON_LINES = 5000;

/** One JSON value, or several when the input is JSON Lines (one document per line), each with its own text. */
function parseJsonValues(text: string, depthChecked = false): { value: unknown; text: string; line?: number }[] {
  if (!text.trim()) throw new EvidenceError("MALFORMED_JSON", "the document is empty");
  // Depth is capped before parsing: validating a document nested 10,000 deep would overflow the stack.
  if (!depthChecked) assertJsonDepth(text, "the document");
  try {
    return [{ value: JSON.parse(text), text }];
  } catch (whole) {
    // JSON Lines: every non-empty line is a JSON document on its own.
    const lines = text.split(/\r?\n/);
    const nonEmpty = lines.filter((l) => l.trim());
    if (nonEmpty.length < 2) throw new EvidenceError("MALFORMED_JSON", `the document is not valid JSON: ${jsonError(whole)}`);
    // Each line is stored as a document of its own, in one transaction: a bound keeps one upload from holding the
    // database for minutes (found by review: 90,000 tiny lines fit in an 8 MiB body).
    if (nonEmpty.length > MAX_JSON_LINES)
      throw new EvidenceError("INVALID_DOCUMENT", `the document holds ${nonEmpty.length} JSON lines; at most ${MAX_JSON_LINES} per upload`);
    const values: { value: unknown; text: string; line: number }[] = [];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (!line.trim()) continue;
      try {
        values.push({ value: JSON.parse(line), text: line, line: i + 1 });
      } catch (e) {
        if (!values.length) throw new EvidenceError("MALFORMED_JSON", `the document is not valid JSON: ${jsonError(whole)}`);
        throw new EvidenceError("MALFORMED_JSON", `line ${i + 1} is not valid JSON: ${jsonError(e)}`);
      }
    }
    return values;
  }
}

function describeKeys(v: Record<string, unknown>): string {
  const keys = Object.keys(v);
  if (!keys.length) return "an empty object";
  const shown = keys.slice(0, 8).map((k) => JSON.stringify(k.length > 40 ? `${k.slice(0, 40)}…` : k));
  return `an object with keys ${shown.join(", ")}${keys.length > 8 ? ", …" : ""}`;
}

/** Recognizes one JSON document by its content and parses it, in steps (large SBOMs pause between chunks). */
function* valueSteps(value: unknown, ctx: ParseContext = TOP): Steps<ParsedEvidence> {
  if (Array.isArray(value)) {
    if (looksLikeLegacyTrivy(value)) return parseTrivy(value, ctx);
    throw new EvidenceError("UNKNOWN_FORMAT", `not a ${FORMATS} document: a JSON array`);
  }
  if (value === null || typeof value !== "object") {
    throw new EvidenceError("UNKNOWN_FORMAT", `not a ${FORMATS} document: a JSON ${value === null ? "null" : typeof value}`);
  }
  const v = value as Record<string, unknown>;
  if (looksLikeDsse(v)) return yield* dsseSteps(v, ctx);
  if (looksLikeSigstoreBundle(v)) return yield* sigstoreBundleSteps(v, ctx);
  if (looksLikeInToto(v)) return yield* inTotoSteps(v, ctx);
  if (looksLikeCycloneDx(v)) return yield* cycloneDxSteps(v, ctx);
  if (looksLikeSpdx(v)) return yield* spdxSteps(v, ctx);
  if (looksLikeTrivy(v)) return parseTrivy(v, ctx);
  if (looksLikeGrype(v)) return parseGrype(v, ctx);
  throw new EvidenceError("UNKNOWN_FORMAT", `not a ${FORMATS} document: ${describeKeys(v)}`);
}

/**
 * A CycloneDX or SPDX document's top-level keys, checked as the streamed path checks them (issue 17): a repeated
 * key, or a list that is not a list, gets the same refusal on either path.
 */
function assertSbomTopLevel(v: { value: unknown; text?: string }): void {
  if (v.text === undefined || v.value === null || typeof v.value !== "object" || Array.isArray(v.value)) return;
  const o = v.value as Record<string, unknown>;
  // An envelope or a statement that also declares itself an SBOM at the top level is refused here (ENVELOPE_KEYS in
  // top-level-keys.ts), as the streamed path refuses it: it must not mean one thing buffered and another streamed.
  const format = looksLikeCycloneDx(o) ? "cyclonedx" : looksLikeSpdx(o) ? "spdx" : null;
  if (format) assertTopLevelKeys(v.text, format);
}

function parseOne(v: { value: unknown; text?: string; line?: number }, several: boolean): ParsedEvidence {
  try {
    assertSbomTopLevel(v);
    const parsed = runSync(valueSteps(v.value));
    assertFindingNames(parsed.findings);
    return parsed;
  } catch (e) {
    throw statementError(e, v, several);
  }
}

async function parseOneAsync(v: { value: unknown; text?: string; line?: number }, several: boolean): Promise<ParsedEvidence> {
  try {
    assertSbomTopLevel(v);
    const parsed = await runAsync(valueSteps(v.value));
    assertFindingNames(parsed.findings);
    return parsed;
  } catch (e) {
    throw statementError(e, v, several);
  }
}

function statementError(e: unknown, v: { line?: number }, several: boolean): unknown {
  {
    if (several && e instanceof EvidenceError) return new EvidenceError(e.code, `line ${v.line ?? "?"}: ${e.message}`, e.issues);
    // A validator that recursed too deep is a bad document, not a server fault.
    if (e instanceof RangeError)
      return new EvidenceError("INVALID_DOCUMENT", `${several ? `line ${v.line ?? "?"}: ` : ""}the document nests too deeply to read`);
    return e;
  }
}

/** Every document in the input: one for JSON, one per line for JSON Lines. */
export function parseEvidenceAll(input: Buffer | Uint8Array | string): ParsedEvidence[] {
  const values = parseJsonValues(decodeText(input));
  return values.map((v) => parseOne(v, values.length > 1));
}

/** One statement of an upload: its own bytes (the whole input, or one JSON line) and what they say. */
export interface EvidenceStatement {
  /** The statement's own bytes, stored and hashed on their own. */
  bytes: Buffer;
  evidence: ParsedEvidence;
  /** 1-based line in a JSON Lines upload. */
  line?: number;
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Every statement in the input, each judged on its own: a JSON Lines upload is several documents, and one of them
 * must never vouch for another. Yields to the event loop between statements, so one large upload does not stall
 * other requests for its whole parse.
 */
export async function parseEvidenceStatements(input: Buffer | Uint8Array | string): Promise<EvidenceStatement[]> {
  const text = decodeText(input);
  if (!text.trim()) throw new EvidenceError("MALFORMED_JSON", "the document is empty");
  await runAsync(assertJsonDepthSteps(text, "the document"));
  const values = parseJsonValues(text, true);
  const out: EvidenceStatement[] = [];
  for (const v of values) {
    await yieldToEventLoop();
    const bytes = values.length === 1 ? (typeof input === "string" ? Buffer.from(input, "utf8") : Buffer.from(input)) : Buffer.from(v.text, "utf8");
    out.push({ bytes, evidence: await parseOneAsync(v, values.length > 1), ...(v.line !== undefined ? { line: v.line } : {}) });
  }
  return out;
}

/**
 * Detects the format from the content and normalizes it. For JSON Lines with several documents the result is
 * their union, with each document (and its own DSSE envelope) in `parts`.
 */
export function parseEvidence(input: Buffer | Uint8Array | string): ParsedEvidence {
  const parts = parseEvidenceAll(input);
  if (parts.length === 1) return parts[0]!;
  return combine(parts);
}

function combine(parts: ParsedEvidence[]): ParsedEvidence {
  const first = parts[0]!;
  const same = <T>(f: (p: ParsedEvidence) => T): T | undefined => (parts.every((p) => f(p) === f(first)) ? f(first) : undefined);
  const subjects: Subject[] = [];
  for (const p of parts) for (const s of p.subjects) addSubject(subjects, { ...s });
  const kind: EvidenceKind = same((p) => p.kind) ?? "attestation";
  const predicateType = same((p) => p.predicateType);
  const provenance = parts.find((p) => p.provenance)?.provenance;
  const tool = parts.find((p) => p.tool)?.tool;
  const scannedAt = parts.find((p) => p.scannedAt)?.scannedAt;
  return {
    format: same((p) => p.format) ?? "dsse",
    kind,
    components: parts.flatMap((p) => p.components),
    findings: parts.flatMap((p) => p.findings),
    ...(provenance ? { provenance } : {}),
    ...(predicateType ? { predicateType } : {}),
    ...(scannedAt ? { scannedAt } : {}),
    ...(tool ? { tool } : {}),
    subjects,
    parts,
  };
}

export interface StreamOptions {
  /** The most bytes accepted; reading stops with TOO_LARGE as soon as one more arrives. */
  maxBytes: number;
}

/**
 * Reads a document from a stream, refusing it as soon as it passes `maxBytes` (the source is cancelled then), and
 * parses it. Returns the bytes too, for storage. This accumulates the chunks and parses once at the end: memory
 * is bounded by `maxBytes` (plus the parsed result), not by what the sender sends.
 */
export async function parseEvidenceStream(
  stream: AsyncIterable<Uint8Array>,
  { maxBytes }: StreamOptions,
): Promise<{ evidence: ParsedEvidence; bytes: Buffer }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Leaving the loop by throwing calls the iterator's return(), which cancels a web or Node stream.
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      throw new EvidenceError("TOO_LARGE", `the document is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const bytes = Buffer.concat(chunks, total);
  return { evidence: parseEvidence(bytes), bytes };
}
