import "server-only";
import type { Tx } from "../../db";
import { matchScope } from "../../signing/trust/identities";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { REGISTRY_EVIDENCE_NOT_COUNTED } from "./may-attach-evidence";

/**
 * Registry evidence no trusted key signed counts only on repositories no rule covers (may-attach-evidence.ts): under
 * the rules `patterns`, marks every such document counted or not counted again, re-matches the advisories of the
 * images whose evidence changed (a VEX may now apply, or no longer) and asks for their stages to be judged again.
 * The caller holds the evidence-uploader-rules advisory lock exclusively (registry ingests take it shared), so no
 * document is stored under rules this recount does not see. Returns how many documents changed.
 */
export async function recountRegistryEvidence(tx: Tx, patterns: readonly string[]): Promise<number> {
  const repos = await tx.$queryRaw<{ id: string; name: string }[]>`
    SELECT DISTINCT r.id, r.name FROM evidence_documents d JOIN images i ON i.id = d.image_id JOIN repositories r ON r.id = i.repository_id
    WHERE d.source = 'registry' AND d.signature_status <> 'signed'`;
  const covered = repos.filter((r) => patterns.some((p) => matchScope(p, r.name))).map((r) => r.id);
  const changed = await tx.$queryRaw<{ image_id: string }[]>`
    WITH want AS (
      SELECT d.id, CASE WHEN i.repository_id = ANY(${covered}::uuid[]) THEN ${REGISTRY_EVIDENCE_NOT_COUNTED} END AS not_counted
      FROM evidence_documents d JOIN images i ON i.id = d.image_id
      WHERE d.source = 'registry' AND d.signature_status <> 'signed')
    UPDATE evidence_documents d SET not_counted = w.not_counted FROM want w
    WHERE d.id = w.id AND d.not_counted IS DISTINCT FROM w.not_counted
    RETURNING d.image_id`;
  const imageIds = [...new Set(changed.map((c) => c.image_id))];
  for (const imageId of imageIds) await rematchImageAdvisories(tx, { imageId });
  await requestReevaluation(tx, { trigger: "evidence", imageIds });
  // A recount under the current rules is whatever a pending one-off recount (after an upgrade) was owed.
  await tx.evidenceRecountPending.deleteMany({});
  return changed.length;
}
