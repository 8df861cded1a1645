import { TokenType } from "@streamparser/json";
import { z } from "zod";
import { bom } from "./cyclonedx";
import { describeIssues, invalidDocument, formatPath } from "./errors";
import { doc as spdxDoc } from "./spdx";

/**
 * The top-level shape rules that the buffered and the streamed SBOM parsers share (issue 17), so that one document
 * gets one answer on either path:
 * - a repeated top-level key is refused: `JSON.parse` keeps the last, a streaming parser sees both, and other tools
 *   may keep the first, so such a document means different things to different readers;
 * - a list the parser reads (`components`, `packages`, …) that is not a list, or `metadata` / `creationInfo` that is
 *   not an object, is refused before any element is read, with the wording of the buffered schema check
 *   ("components should be an array, not an object"); null stays allowed where the schema allows it.
 */

export type TopLevelFormat = "cyclonedx" | "spdx";
export type JsonKind = "object" | "array" | "string" | "number" | "boolean" | "null";

const RULES: Record<TopLevelFormat, { label: string; shape: Record<string, z.ZodType>; want: Record<string, "array" | "object"> }> = {
  cyclonedx: { label: "CycloneDX", shape: bom.shape, want: { components: "array", vulnerabilities: "array", metadata: "object" } },
  spdx: { label: "SPDX", shape: spdxDoc.shape, want: { packages: "array", relationships: "array", documentDescribes: "array", creationInfo: "object" } },
};

/**
 * Keys that make a top-level object a DSSE envelope, a Sigstore bundle or an in-toto statement. An SBOM that also
 * carries one is refused on both paths: read as an envelope, its rows would come from the signed payload; read as an
 * SBOM (the streamed path decides from the first bytes), from the unsigned outer components, while the stored raw
 * document carries a valid signature. One document, one meaning.
 */
const ENVELOPE_KEYS = new Set(["payloadType", "payload", "signatures", "_type", "dsseEnvelope", "messageSignature", "verificationMaterial"]);

const SAMPLE: Record<JsonKind, unknown> = { object: {}, array: [], string: "", number: 0, boolean: false, null: null };

/** Checks top-level keys one at a time, in document order; throws EvidenceError (INVALID_DOCUMENT) on a refusal. */
export class TopLevelKeys {
  private readonly seen = new Map<string, JsonKind>();

  constructor(private readonly format: TopLevelFormat) {}

  /** The kind of a top-level key's value, once its value has started. */
  kindOf(name: string): JsonKind | undefined {
    return this.seen.get(name);
  }

  key(name: string, kind: JsonKind): void {
    const { label, shape, want } = RULES[this.format];
    if (this.seen.has(name))
      throw invalidDocument(label, [`${formatPath([name])} is given more than once at the top level (JSON readers disagree on which one counts)`]);
    this.seen.set(name, kind);
    if (ENVELOPE_KEYS.has(name))
      throw invalidDocument(label, [
        `${formatPath([name])} at the top level makes this ${label} document also a signed envelope or an attestation statement; send the SBOM alone, or the envelope alone`,
      ]);
    const expected = Object.prototype.hasOwnProperty.call(want, name) ? want[name] : undefined;
    if (!expected || kind === expected) return;
    // The schema's own verdict on a value of this kind, so the message (and what null means) is the buffered one.
    const input = { [name]: SAMPLE[kind] };
    const r = z.object({ [name]: shape[name]! }).safeParse(input);
    if (!r.success) throw invalidDocument(label, describeIssues(r.error.issues, input));
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

function kindAt(text: string, i: number): JsonKind {
  const c = text.charCodeAt(i);
  if (c === 0x7b) return "object";
  if (c === 0x5b) return "array";
  if (c === 0x22) return "string";
  if (c === 0x74 || c === 0x66) return "boolean";
  if (c === 0x6e) return "null";
  return "number";
}

/**
 * The top-level keys of a JSON object document, in order, with the kind of each value, escapes decoded. For text
 * that JSON.parse has already accepted (the buffered path): one linear pass, no value is built.
 */
export function topLevelKeysOf(text: string): { key: string; kind: JsonKind }[] {
  const out: { key: string; kind: JsonKind }[] = [];
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      i++;
      if (depth !== 1) continue;
      // A string at depth 1 followed by a colon is a key.
      let j = i;
      while (j < n && WS.has(text.charCodeAt(j))) j++;
      if (text.charCodeAt(j) !== 0x3a) continue;
      j++;
      while (j < n && WS.has(text.charCodeAt(j))) j++;
      out.push({ key: JSON.parse(text.slice(start, i)) as string, kind: kindAt(text, j) });
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
    i++;
  }
  return out;
}

/** The buffered path's check of a whole document's text (see TopLevelKeys). */
export function assertTopLevelKeys(text: string, format: TopLevelFormat): void {
  const keys = new TopLevelKeys(format);
  for (const k of topLevelKeysOf(text)) keys.key(k.key, k.kind);
}

/**
 * The streamed path's key reader: fed the tokenizer's tokens in order (JSONParser.onToken), it hands each top-level
 * key and the kind of its value to TopLevelKeys as soon as the value starts, before any element of it is parsed.
 */
export class TopLevelTokens {
  private depth = 0;
  private rootIsObject = false;
  private state: "key" | "colon" | "value" | "after" = "after";
  private pending = "";

  constructor(private readonly keys: TopLevelKeys) {}

  push(token: TokenType, value: unknown): void {
    if (this.depth === 1 && this.rootIsObject) this.atTop(token, value);
    if (token === TokenType.LEFT_BRACE || token === TokenType.LEFT_BRACKET) {
      if (this.depth === 0) {
        this.rootIsObject = token === TokenType.LEFT_BRACE;
        this.state = "key";
      }
      this.depth++;
    } else if (token === TokenType.RIGHT_BRACE || token === TokenType.RIGHT_BRACKET) this.depth--;
  }

  private atTop(token: TokenType, value: unknown): void {
    if (this.state === "key" && token === TokenType.STRING) {
      this.pending = value as string;
      this.state = "colon";
    } else if (this.state === "colon" && token === TokenType.COLON) this.state = "value";
    else if (this.state === "value") {
      this.state = "after";
      this.keys.key(this.pending, tokenKind(token));
    } else if (token === TokenType.COMMA) this.state = "key";
  }
}

function tokenKind(token: TokenType): JsonKind {
  switch (token) {
    case TokenType.LEFT_BRACE:
      return "object";
    case TokenType.LEFT_BRACKET:
      return "array";
    case TokenType.STRING:
      return "string";
    case TokenType.TRUE:
    case TokenType.FALSE:
      return "boolean";
    case TokenType.NULL:
      return "null";
    default:
      return "number";
  }
}
