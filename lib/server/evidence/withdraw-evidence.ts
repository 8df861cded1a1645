import "server-only";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { unindexDocumentPackages } from "./package-index";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { db } from "../../db";
import { AppError } from "../../errors";
import { isUuid } from "../../uuid";
import { actorLabel, requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";

/**
 * Withdraws an evidence document (admin only, with a reason). Nothing is deleted: the document, its rows and its
 * raw bytes stay and are shown as withdrawn, but the gates no longer count it (its findings, components and
 * provenance included). Audited in the same transaction. Withdrawing twice keeps the first withdrawal.
 */
export async function withdrawEvidence({ actor, documentId, reason }: { actor: Actor; documentId: string; reason: string }) {
  requireRole(actor, ["admin"], "withdrawing evidence");
  const text = reason.trim();
  if (text.length < 5) throw new AppError("INVALID_INPUT", "withdrawing evidence needs a reason of at least 5 characters", "reason");
  if (text.length > 2000) throw new AppError("INVALID_INPUT", "the reason is longer than 2000 characters", "reason");
  if (!isUuid(documentId)) throw new AppError("NOT_FOUND", "no such evidence document");
  return db.$transaction(async (tx) => {
    // Row lock: two admins withdrawing at once record one withdrawal.
    const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM evidence_documents WHERE id = ${documentId}::uuid FOR UPDATE`;
    if (!rows.length) throw new AppError("NOT_FOUND", "no such evidence document");
    const doc = await tx.evidenceDocument.findUniqueOrThrow({
      where: { id: documentId },
      omit: { raw: true },
      include: { image: { select: { digest: true } } },
    });
    if (doc.withdrawnAt)
      return { id: doc.id, withdrawnAt: doc.withdrawnAt.toISOString(), withdrawnBy: doc.withdrawnBy, reason: doc.withdrawReason, already: true };
    const now = new Date();
    await tx.evidenceDocument.update({ where: { id: doc.id }, data: { withdrawnAt: now, withdrawnBy: actorLabel(actor), withdrawReason: text } });
    // The fleet search and advisory matching stop seeing its components.
    if (doc.componentCount > 0) {
      await unindexDocumentPackages(tx, { documentId: doc.id, imageId: doc.imageId });
      await rematchImageAdvisories(tx, { imageId: doc.imageId });
    }
    // What the gates saw changed: approvals resting on this evidence are judged again.
    await requestReevaluation(tx, { trigger: "evidence", imageIds: [doc.imageId] });
    await appendAuditEvent(tx, {
      actor,
      action: "evidence.withdraw",
      targetDigest: doc.image.digest,
      detail: {
        documentId: doc.id,
        contentDigest: doc.contentDigest,
        kind: doc.kind,
        format: doc.format,
        uploadedBy: doc.uploadedBy,
        signature: doc.signatureStatus,
        reason: text,
      },
    });
    return { id: doc.id, withdrawnAt: now.toISOString(), withdrawnBy: actorLabel(actor), reason: text, already: false };
  });
}
