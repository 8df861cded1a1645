import "server-only";
import type { Tx } from "../../db";
import { matchScope } from "../../signing/trust/identities";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { evidenceSignerRole } from "./ingest-evidence";
import { matchingUploaderRules, registryNotCounted } from "./may-attach-evidence";

/** The trust identity as it is after the change (null: deleted). */
export interface EvidenceSignerNow {
  kind: string;
  role: string;
  scope: readonly string[];
  validFrom: Date | null;
  validUntil: Date | null;
  revokedAt: Date | null;
}

const iso = (d: Date) => d.toISOString();

/**
 * Why a document this identity signed no longer counts as signed, or null. Its signature was verified when the
 * document reached Imprimatur (`uploadedAt`, Imprimatur's own record, the trusted time of that verification): a
 * revocation or the end of validity at or before that time voids it, as does a deletion, a role that no longer signs
 * this kind or a scope that no longer covers the repository.
 */
function voidedBecause(i: EvidenceSignerNow | null, doc: { kind: string; uploadedAt: Date }, repository: string): string | null {
  if (!i) return "the trust identity was deleted";
  const role = evidenceSignerRole(doc.kind);
  if (i.kind !== "key") return `it is now a ${i.kind} identity, not a key`;
  if (i.role !== role) return `it is now trusted as ${i.role}; a ${doc.kind} needs a ${role} key`;
  if (!i.scope.some((p) => matchScope(p, repository))) return `it is no longer trusted for ${repository}`;
  if (i.revokedAt && doc.uploadedAt >= i.revokedAt)
    return `it is revoked from ${iso(i.revokedAt)}, and the document reached Imprimatur at ${iso(doc.uploadedAt)}`;
  if (i.validUntil && doc.uploadedAt >= i.validUntil)
    return `it was valid until ${iso(i.validUntil)}; the document reached Imprimatur at ${iso(doc.uploadedAt)}`;
  if (i.validFrom && doc.uploadedAt < i.validFrom) return `it is valid from ${iso(i.validFrom)}; the document reached Imprimatur at ${iso(doc.uploadedAt)}`;
  return null;
}

/**
 * Judges again, in the transaction of a trust change, the evidence documents the changed identity signed: a document
 * it no longer vouches for stops counting as signed (the signedEvidence and provenance gates read the stored verdict),
 * registry evidence on a repository under uploader rules stops counting at all, and the images' advisories are matched
 * again (a VEX may no longer apply) and their stages judged again. Never turns a document back into signed: undoing
 * a revocation does not make a voided document count again (upload it again). Returns how many documents changed.
 */
export async function rejudgeEvidenceSigner(tx: Tx, { name, identity }: { name: string; identity: EvidenceSignerNow | null }): Promise<number> {
  const docs = await tx.evidenceDocument.findMany({
    where: { signedBy: name, signatureStatus: "signed" },
    select: { id: true, kind: true, source: true, uploadedAt: true, imageId: true, image: { select: { repository: { select: { name: true } } } } },
  });
  const imageIds = new Set<string>();
  let changed = 0;
  for (const d of docs) {
    const repository = d.image.repository.name;
    const why = voidedBecause(identity, d, repository);
    if (!why) continue;
    const covered = d.source === "registry" && (await matchingUploaderRules(tx, repository)).length > 0;
    await tx.evidenceDocument.update({
      where: { id: d.id },
      data: {
        signatureStatus: "invalid",
        signatureDetail: `signed by "${name}", which no longer vouches for it: ${why}`,
        // Registry evidence on a repository under uploader rules counts only when signed (may-attach-evidence.ts).
        ...(covered && d.source === "registry" ? { notCounted: registryNotCounted("registry", "invalid", true) } : {}),
      },
    });
    imageIds.add(d.imageId);
    changed++;
  }
  for (const imageId of imageIds) await rematchImageAdvisories(tx, { imageId });
  await requestReevaluation(tx, { trigger: "trust", imageIds: [...imageIds] });
  return changed;
}
