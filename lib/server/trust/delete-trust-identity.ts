import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { bumpTrustState } from "./load-trust";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { rejudgeEvidenceSigner } from "../evidence/rejudge-evidence-signer";

/** Removes an identity: the signatures it vouched for are re-verified (not verified) at the next sync. */
export async function deleteTrustIdentity({ actor, name }: { actor: Actor; name: string }) {
  requireRole(actor, ["admin"], "managing trust identities");
  return db.$transaction(async (tx) => {
    // Trust decides signature and evidence verdicts: every approved image is judged again.
    await requestReevaluation(tx, { trigger: "trust" });
    const cur = await tx.trustIdentity.findUnique({ where: { name } });
    if (!cur) throw new AppError("NOT_FOUND", `no trust identity ${name}`);
    await tx.trustIdentity.delete({ where: { name } });
    // Evidence it signed no longer counts as signed (a new identity of the same name must not revive it).
    await rejudgeEvidenceSigner(tx, { name, identity: null });
    await appendAuditEvent(tx, {
      actor,
      action: "trust.delete",
      target: name,
      detail: {
        kind: cur.kind,
        role: cur.role,
        scope: cur.scope,
        ...(cur.builderIds.length ? { builderIds: cur.builderIds } : {}),
        fingerprint: cur.fingerprint,
      },
    });
    await bumpTrustState(tx);
    return { deleted: name };
  });
}
