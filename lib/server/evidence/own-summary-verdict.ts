import "server-only";
import { db } from "../../db";
import type { EvidenceStatement } from "../../evidence/detect";
import { parsePublicKey, verifyRaw } from "../../signing/keys/software";
import { VSA_PREDICATE_TYPE } from "../../signing/formats/verification-summary";
import type { Verdict } from "./ingest-evidence";

type Summary = {
  approvalId: string;
  envelope: Uint8Array;
  status: string;
  keyName: string;
  fingerprint: string;
  publicKeyPem: string;
  revokedAt: Date | null;
  stage: string;
};

/** This image's summaries with the key that signed each and its approval's stage and revocation (one statement). */
function loadSummaries(imageId: string): Promise<Summary[]> {
  return db.$queryRaw<Summary[]>`
    SELECT v.approval_id AS "approvalId", v.envelope, v.status, k.name AS "keyName", k.fingerprint, k.public_key_pem AS "publicKeyPem",
           a.revoked_at AS "revokedAt", s.name AS stage
      FROM verification_summaries v
      JOIN signing_keys k ON k.id = v.signing_key_id
      JOIN approvals a ON a.id = v.approval_id
      JOIN stages s ON s.id = a.stage_id
     WHERE v.image_id = ${imageId}::uuid`;
}

/** The payload of a stored summary envelope (this server wrote it; unreadable means "not this one"). */
function storedPayload(envelope: Uint8Array): Buffer | null {
  try {
    const e = JSON.parse(Buffer.from(envelope).toString("utf8")) as { payload?: unknown };
    return typeof e.payload === "string" ? Buffer.from(e.payload, "base64") : null;
  } catch {
    return null;
  }
}

function signedBy(st: EvidenceStatement, s: Summary): boolean {
  const dsse = st.evidence.dsse!;
  let key;
  try {
    key = parsePublicKey(s.publicKeyPem);
  } catch {
    return false;
  }
  return dsse.signatures.some((sig) => sig.sig.length > 0 && verifyRaw(key, dsse.pae, sig.sig));
}

function verdictFor(s: Summary): Verdict {
  const what = `Imprimatur's own verification summary of approval ${s.approvalId} (stage ${s.stage})`;
  if (s.revokedAt || s.status === "removed") {
    return {
      status: "invalid",
      by: null,
      detail: `${what}: the approval was revoked${s.revokedAt ? ` at ${s.revokedAt.toISOString()}` : ""}, so this summary vouches for nothing`,
    };
  }
  return {
    status: "signed",
    by: s.keyName,
    detail: `${what}, signed with stage key "${s.keyName}" (${s.fingerprint}); it records what was checked at approval and is not evidence for gates`,
  };
}

/**
 * The server's own SLSA verification summaries come back to it when the sync reads the image's `.att` manifest. Judged
 * as ordinary evidence they need a scanner's key, so they were shown as "signature not verified". A statement whose
 * payload is exactly one this server signed for this image, with a signature that verifies under that summary's stage
 * key, gets a verdict saying so (and "invalid" once its approval is revoked). Nothing else changes: a summary from
 * another instance, or one copied onto another image, is judged like any attestation, and a stage key still never
 * makes a scan, SBOM, VEX or provenance signed (the signed-evidence gate does not read attestations of this kind).
 */
export async function ownSummaryVerdicts(imageId: string, statements: EvidenceStatement[]): Promise<(Verdict | null)[]> {
  const candidates = statements.map((st) => st.evidence.predicateType === VSA_PREDICATE_TYPE && Boolean(st.evidence.dsse));
  if (!candidates.some(Boolean)) return statements.map(() => null);
  const summaries = await loadSummaries(imageId);
  return statements.map((st, i) => {
    if (!candidates[i]) return null;
    const mine = summaries.find((s) => storedPayload(s.envelope)?.equals(st.evidence.dsse!.payload) && signedBy(st, s));
    return mine ? verdictFor(mine) : null;
  });
}
