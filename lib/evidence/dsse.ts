import { z } from "zod";
import { EvidenceError, parseWith, runSync, type Steps } from "./errors";
import { inTotoSteps, looksLikeInToto } from "./intoto";
import type { DsseEnvelope, ParsedEvidence } from "./model";
import { assertJsonDepth, labelOf, nested, optStr, type ParseContext } from "./util";

// DSSE envelopes (https://github.com/secure-systems-lab/dsse), alone, one per JSON line, or inside a Sigstore
// bundle. The signatures are not checked here: the caller verifies `pae` against the keys it trusts.

const envelope = z.object({
  payloadType: z.string(),
  payload: z.string(),
  signatures: z.array(z.object({ keyid: optStr, sig: z.string() })),
});

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";

export function looksLikeDsse(v: Record<string, unknown>): boolean {
  return typeof v.payloadType === "string" && "payload" in v && "signatures" in v;
}

export function looksLikeSigstoreBundle(v: Record<string, unknown>): boolean {
  return typeof v.mediaType === "string" && v.mediaType.startsWith("application/vnd.dev.sigstore.bundle");
}

// DSSE allows standard or URL-safe base64, padded or not.
const BASE64 = /^(?:[A-Za-z0-9+/]*|[A-Za-z0-9_-]*)={0,2}$/;

function decodeBase64(s: string, label: string, field: string): Buffer {
  if (!BASE64.test(s) || s.replace(/=+$/, "").length % 4 === 1) {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: ${field} is not base64`, [field]);
  }
  return Buffer.from(s, s.includes("-") || s.includes("_") ? "base64url" : "base64");
}

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths as ASCII decimal byte counts. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `, "utf8"), type, Buffer.from(` ${payload.length} `, "utf8"), payload]);
}

export function parseDsse(input: unknown, ctx: ParseContext): ParsedEvidence {
  return runSync(dsseSteps(input, ctx));
}

/** parseDsse as steps (see runAsync). */
export function* dsseSteps(input: unknown, ctx: ParseContext): Steps<ParsedEvidence> {
  const label = labelOf(ctx, "DSSE");
  const e = parseWith(label, envelope, input, ctx.prefix);
  const payload = decodeBase64(e.payload, label, "payload");
  const signatures = e.signatures.map((s, i) => ({ keyid: s.keyid ?? "", sig: decodeBase64(s.sig, label, `signatures[${i}].sig`) }));
  const dsse: DsseEnvelope = { payloadType: e.payloadType, payload, signatures, pae: preAuthEncoding(e.payloadType, payload) };

  if (e.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    // A signed envelope around something that is not an in-toto statement: kept, but it says nothing we read.
    return { format: "dsse", kind: "attestation", components: [], findings: [], subjects: [], dsse };
  }
  let statement: unknown;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(payload);
  } catch {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: the payload (${e.payloadType}) is not UTF-8`, ["payload"]);
  }
  assertJsonDepth(text, `${label}: the payload`);
  try {
    statement = JSON.parse(text);
  } catch {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: the payload (${e.payloadType}) is not JSON`, ["payload"]);
  }
  if (!statement || typeof statement !== "object" || Array.isArray(statement) || !looksLikeInToto(statement as Record<string, unknown>)) {
    throw new EvidenceError("INVALID_DOCUMENT", `${label}: the payload is not an in-toto statement (no in-toto _type)`, ["payload"]);
  }
  // Paths inside the payload are relative to the decoded statement.
  const inner = yield* inTotoSteps(statement, { ...nested(ctx, "DSSE payload"), prefix: [] });
  return { ...inner, format: "dsse", dsse };
}

const bundle = z.object({ mediaType: z.string(), dsseEnvelope: z.unknown().optional() });

/** A Sigstore bundle carrying a DSSE envelope is read as that envelope (the bundle's certificate is the caller's). */
export function parseSigstoreBundle(input: unknown, ctx: ParseContext): ParsedEvidence {
  return runSync(sigstoreBundleSteps(input, ctx));
}

export function* sigstoreBundleSteps(input: unknown, ctx: ParseContext): Steps<ParsedEvidence> {
  const label = labelOf(ctx, "Sigstore bundle");
  const b = parseWith(label, bundle, input, ctx.prefix);
  if (b.dsseEnvelope === undefined || b.dsseEnvelope === null) {
    throw new EvidenceError("UNKNOWN_FORMAT", `${label}: it holds a message signature, not a DSSE envelope, so it is a signature rather than evidence`);
  }
  return yield* dsseSteps(b.dsseEnvelope, nested(ctx, "Sigstore bundle", "dsseEnvelope"));
}
