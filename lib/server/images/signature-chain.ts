import "server-only";
import { ROLE_ORDER, type IdentityRole } from "../../signing/trust/identities";
import { readDisplayJson, signatureChecksColumn, signatureOptionalColumn, signatureSignerColumn } from "../json-columns";

export const BASE_DIGEST_ANNOTATION = "org.opencontainers.image.base.digest";
export const BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name";

/** The columns of a stored signature the chain needs. */
export interface StoredSignature {
  id: string;
  layerDigest: string;
  position: number;
  verdict: string;
  detail: string;
  keyName: string | null;
  keyFingerprint: string | null;
  role: string | null;
  format: string;
  checks: unknown;
  signer: unknown;
  timeKind: string | null;
  timeAt: Date | null;
  timeBy: string | null;
  trustedBy: string | null;
  artifactDigest: string | null;
  dockerReference: string | null;
  payloadDigest: string | null;
  optional: unknown;
  checkedAt: Date;
}

/** `stage:<name> (<key>)` → name */
export function stageOfKeyName(keyName: string | null): string | null {
  const m = keyName ? /^stage:(.+) \(/.exec(keyName) : null;
  return m?.[1] ?? null;
}

/**
 * The chain as a story: the publisher's signatures, then the team's (the build), then each stage's in stage order;
 * signatures that vouch for nothing (unverified, invalid) come last, in manifest order.
 */
export function chainRank(
  s: { verdict: string; role: string | null; keyName: string | null; position: number },
  stagePositions: Map<string, number>,
  approvalStage?: string | null,
): number[] {
  const role = s.role as IdentityRole | null;
  if (s.verdict !== "verified" || !role) return [9, 0, s.position];
  const stage = approvalStage ?? stageOfKeyName(s.keyName);
  return [ROLE_ORDER[role], role === "stage" ? (stagePositions.get(stage ?? "") ?? 999) : 0, s.position];
}

export function compareRank(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d) return d;
  }
  return 0;
}

export function serializeSignature(s: StoredSignature, approval?: { id: string; stage: string } | null) {
  return {
    layerDigest: s.layerDigest,
    position: s.position,
    verdict: s.verdict as "verified" | "unverified" | "invalid",
    detail: s.detail,
    format: s.format as "cosign" | "sigstore-bundle" | "notation",
    role: s.role as IdentityRole | null,
    /** The identity that vouched (only when every check passed). */
    key: s.keyName ? { name: s.keyName, fingerprint: s.keyFingerprint } : null,
    trustedBy: s.trustedBy,
    // Display only (the verdict and key columns decide): what parses is shown, an unreadable signer as none.
    checks: readDisplayJson(signatureChecksColumn, s.checks, { table: "signatures", column: "checks", id: s.id }).value ?? [],
    signer: s.signer === null ? null : readDisplayJson(signatureSignerColumn, s.signer, { table: "signatures", column: "signer", id: s.id }).value,
    time: s.timeKind ? { kind: s.timeKind as "trusted" | "claimed", at: s.timeAt?.toISOString() ?? null, by: s.timeBy ?? "" } : null,
    artifactDigest: s.artifactDigest,
    dockerReference: s.dockerReference,
    payloadDigest: s.payloadDigest,
    optional: s.optional === null ? null : readDisplayJson(signatureOptionalColumn, s.optional, { table: "signatures", column: "optional", id: s.id }).value,
    checkedAt: s.checkedAt.toISOString(),
    approval: approval ?? null,
    /** Which stage the signature speaks for, when it is a stage signature. */
    stage: approval?.stage ?? (s.role === "stage" ? stageOfKeyName(s.keyName) : null),
  };
}

export type ChainSignature = ReturnType<typeof serializeSignature>;

/** The string annotations of a stored manifest or index (verified against its digest when stored). */
export function manifestAnnotations(manifest: Uint8Array | null | undefined): Record<string, string> {
  if (!manifest) return {};
  try {
    const m = JSON.parse(Buffer.from(manifest).toString("utf8")) as { annotations?: unknown };
    if (m.annotations && typeof m.annotations === "object" && !Array.isArray(m.annotations)) {
      return Object.fromEntries(Object.entries(m.annotations as Record<string, unknown>).filter(([, v]) => typeof v === "string")) as Record<string, string>;
    }
  } catch {
    // unparseable JSON has no annotations
  }
  return {};
}

/** The base image an image names: on its manifest, else on its index. */
export function baseReference(own: Uint8Array | null | undefined, index?: Uint8Array | null): { digest: string | null; name: string | null } {
  let ann = manifestAnnotations(own);
  if (!ann[BASE_DIGEST_ANNOTATION] && !ann[BASE_NAME_ANNOTATION] && index) ann = manifestAnnotations(index);
  const digest = ann[BASE_DIGEST_ANNOTATION] ?? null;
  return { digest: digest && /^sha256:[a-f0-9]{64}$/.test(digest) ? digest : null, name: ann[BASE_NAME_ANNOTATION] ?? null };
}

/** Picks the inventory image a base reference means: the repository named in `.base.name` first. */
export function pickBase<T extends { repository: { name: string } }>(candidates: T[], name: string | null): T | undefined {
  const byName = name
    ? candidates.find(
        (c) =>
          name === c.repository.name ||
          name.includes(`/${c.repository.name}:`) ||
          name.includes(`/${c.repository.name}@`) ||
          name.endsWith(`/${c.repository.name}`) ||
          name.startsWith(`${c.repository.name}:`),
      )
    : undefined;
  return byName ?? candidates[0];
}

export type ChainMark = "✓" | "✗" | "…" | "–";
export interface ChainLink {
  label: string;
  mark: ChainMark;
  detail: string;
}
