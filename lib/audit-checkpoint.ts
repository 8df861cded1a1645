// Audit checkpoints: the chain head {seq, hash, time} signed by the audit key and stored outside Postgres as an OCI
// artifact. Plain data and node:crypto only (no Next, no Prisma): the server and the CLI share it, and an auditor
// could run it offline against an export and the registry's artifacts.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { parsePublicKey, verifyRaw } from "./signing/keys/software";
import { MAX_TOKEN_BYTES, verifyTimestampToken } from "./signing/trust/rfc3161";
import type { AnchorCertificates } from "./signing/verification";

export const CHECKPOINT_TYPE = "dev.imprimatur.audit.checkpoint.v1";
export const CHECKPOINT_ARTIFACT_TYPE = "application/vnd.dev.imprimatur.audit.checkpoint.v1+json";
export const CHECKPOINT_SIGNATURE_ANNOTATION = "dev.imprimatur.audit.signature";
/** Base64 of the TSA's DER TimeStampResp over the raw signature bytes (as cosign's SignedRFC3161Timestamp). */
export const CHECKPOINT_TIMESTAMP_ANNOTATION = "dev.imprimatur.audit.timestamp";
export const EMPTY_CONFIG = {
  mediaType: "application/vnd.oci.empty.v1+json",
  digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
  size: 2,
} as const;

export interface CheckpointPayload {
  type: typeof CHECKPOINT_TYPE;
  checkpoint: number;
  /** The chain head's seq, as a decimal string (bigint). */
  seq: string;
  hash: string;
  /** When the checkpoint was made (our clock: claimed time, unless a TSA token is added). */
  time: string;
  /** sha256:<hex> of the audit key's SPKI DER. */
  key: string;
}

export function checkpointTag(n: number): string {
  return `checkpoint-${String(n).padStart(8, "0")}`;
}

export function parseCheckpointTag(tag: string): number | null {
  const m = /^checkpoint-(\d{8})$/.exec(tag);
  return m ? Number(m[1]) : null;
}

/** The exact bytes that are signed: RFC 8785 JSON of the payload. */
export function checkpointBytes(p: CheckpointPayload): Buffer {
  const c = canonicalize(p);
  if (!c) throw new Error("checkpoint cannot be canonicalized");
  return Buffer.from(c, "utf8");
}

/** The OCI image manifest of a checkpoint: empty config, the payload as its one layer, the signature as an annotation. */
export function checkpointManifest(payload: Buffer, signatureB64: string, time: string, timestampB64?: string | null): Buffer {
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    artifactType: CHECKPOINT_ARTIFACT_TYPE,
    config: EMPTY_CONFIG,
    layers: [{ mediaType: CHECKPOINT_ARTIFACT_TYPE, digest: `sha256:${createHash("sha256").update(payload).digest("hex")}`, size: payload.length }],
    annotations: {
      [CHECKPOINT_SIGNATURE_ANNOTATION]: signatureB64,
      ...(timestampB64 ? { [CHECKPOINT_TIMESTAMP_ANNOTATION]: timestampB64 } : {}),
      "org.opencontainers.image.created": time,
    },
  };
  return Buffer.from(JSON.stringify(manifest), "utf8");
}

export type CheckpointVerdict = { ok: true; payload: CheckpointPayload } | { ok: false; reason: string };

/**
 * Checks a checkpoint read back from the registry: the manifest names the payload layer and carries a signature; the
 * payload parses, is canonical, names the number its tag names, and is signed by one of the trusted audit keys.
 * `payloadBytes` must already have been checked against the layer digest (the registry client does that).
 */
export function verifyCheckpoint(opts: {
  tagNumber: number;
  manifest: unknown;
  payloadBytes: Buffer;
  trustedKeys: { fingerprint: string; publicKeyPem: string }[];
}): CheckpointVerdict {
  const m = opts.manifest as { artifactType?: unknown; annotations?: Record<string, unknown> } | null;
  const sig = typeof m?.annotations?.[CHECKPOINT_SIGNATURE_ANNOTATION] === "string" ? (m.annotations[CHECKPOINT_SIGNATURE_ANNOTATION] as string) : null;
  if (m?.artifactType !== CHECKPOINT_ARTIFACT_TYPE) return { ok: false, reason: "not a checkpoint artifact" };
  if (!sig || !/^[A-Za-z0-9+/]{40,200}={0,2}$/.test(sig)) return { ok: false, reason: "unsigned (no signature annotation)" };
  let p: CheckpointPayload;
  try {
    p = JSON.parse(opts.payloadBytes.toString("utf8")) as CheckpointPayload;
  } catch {
    return { ok: false, reason: "payload is not JSON" };
  }
  if (
    p?.type !== CHECKPOINT_TYPE ||
    typeof p.checkpoint !== "number" ||
    typeof p.seq !== "string" ||
    !/^\d{1,19}$/.test(p.seq) ||
    typeof p.hash !== "string" ||
    !/^[0-9a-f]{64}$/.test(p.hash) ||
    typeof p.time !== "string" ||
    typeof p.key !== "string"
  ) {
    return { ok: false, reason: "payload is not a checkpoint" };
  }
  // Only the canonical form is signed; anything else could carry a second reading of the same bytes.
  if (!checkpointBytes(p).equals(opts.payloadBytes)) return { ok: false, reason: "payload is not in canonical form" };
  if (p.checkpoint !== opts.tagNumber) return { ok: false, reason: `payload names checkpoint ${p.checkpoint}, its tag ${opts.tagNumber}` };
  const key = opts.trustedKeys.find((k) => k.fingerprint === p.key);
  if (!key) return { ok: false, reason: `signed by ${p.key}, which is not an audit key of this installation` };
  if (!verifyRaw(parsePublicKey(key.publicKeyPem), opts.payloadBytes, Buffer.from(sig, "base64")))
    return { ok: false, reason: "signature does not verify with the audit key" };
  return { ok: true, payload: p };
}

const fmt = (s: string | bigint) => BigInt(s).toLocaleString("en-US");

/**
 * Compares one genuine checkpoint with the table: the named row must exist and hash to the named hash.
 * Returns null when it holds, else what is wrong, in words.
 */
export function compareCheckpoint(
  p: CheckpointPayload,
  table: { lastSeq: bigint; hashAt: (seq: bigint) => string | null | undefined },
): { kind: "cut" | "rewritten"; message: string } | null {
  const seq = BigInt(p.seq);
  if (seq > table.lastSeq)
    return { kind: "cut", message: `checkpoint ${p.checkpoint} names seq ${fmt(seq)}; the table ends at ${fmt(table.lastSeq)} (its tail was cut)` };
  const h = table.hashAt(seq);
  if (h !== p.hash)
    return {
      kind: "rewritten",
      message: `checkpoint ${p.checkpoint} names seq ${fmt(seq)} with hash ${p.hash.slice(0, 12)}…; the table's row hashes to ${h ? `${h.slice(0, 12)}…` : "nothing"} (rows up to ${fmt(seq)} were rewritten)`,
    };
  return null;
}

export type CheckpointTime =
  { kind: "trusted"; at: string; by: string } | { kind: "claimed"; at: string; reason: string } | { kind: "failed"; at: string; reason: string };

/**
 * The time of a genuine checkpoint. With a timestamp token in its manifest: the token must be intact, imprint the
 * checkpoint's signature and chain to a trusted TSA root at its genTime; then genTime is trusted. A token that fails
 * is reported as failed (never silently treated as "no token"); without one, the payload's time is only claimed.
 */
export function checkpointTime(opts: { manifest: unknown; payload: CheckpointPayload; tsaRoots: readonly AnchorCertificates[] }): CheckpointTime {
  const ann = (opts.manifest as { annotations?: Record<string, unknown> } | null)?.annotations ?? {};
  const tokenB64 = ann[CHECKPOINT_TIMESTAMP_ANNOTATION];
  const sigB64 = ann[CHECKPOINT_SIGNATURE_ANNOTATION];
  if (tokenB64 === undefined) return { kind: "claimed", at: opts.payload.time, reason: "no timestamp token" };
  if (
    typeof tokenB64 !== "string" ||
    tokenB64.length > (MAX_TOKEN_BYTES * 4) / 3 + 4 ||
    !/^[A-Za-z0-9+/]+={0,2}$/.test(tokenB64) ||
    typeof sigB64 !== "string"
  ) {
    return { kind: "failed", at: opts.payload.time, reason: "the timestamp annotation is not a base64 token" };
  }
  const v = verifyTimestampToken({ token: Buffer.from(tokenB64, "base64"), signedData: Buffer.from(sigB64, "base64"), tsaRoots: opts.tsaRoots });
  if (!v.ok) return { kind: "failed", at: opts.payload.time, reason: `${v.failed}: ${v.reason}` };
  return { kind: "trusted", at: v.genTime.toISOString(), by: `TSA ${v.tsa.subject} (${v.anchorName})` };
}
