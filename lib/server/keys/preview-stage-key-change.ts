import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";

export interface PreviewStageKeyChangeOptions {
  actor: Actor;
  stage: string;
}

export interface StageKeyChangePreview {
  stage: string;
  /** The key that a rotation or an import retires; null when the stage has no current key yet. */
  retiring: { name: string; fingerprint: string; backend: string; notBefore: string } | null;
  /**
   * Images whose stage signature was made with the retiring key (approvals not revoked). Imprimatur keeps verifying
   * them (judged at the time each was signed), but a verifier that pins only the new public key stops accepting them.
   */
  images: { registry: string; repository: string; digest: string; approvalId: string; signedAt: string | null }[];
  /** Approvals on the retiring key still being pushed (status signing): they finish with the old key. */
  pending: number;
}

const LIMIT = 500;

/**
 * Read-only: what rotating or importing a key for `stage` changes, as the confirmation dialog shows it. Nothing is
 * written. Admins only, like the change itself.
 */
export async function previewStageKeyChange({ actor, stage: stageName }: PreviewStageKeyChangeOptions): Promise<StageKeyChangePreview> {
  requireRole(actor, ["admin"], "rotating stage keys");
  const stage = await db.stage.findUnique({ where: { name: stageName }, select: { id: true, name: true } });
  if (!stage) throw new AppError("NOT_FOUND", `unknown stage ${stageName}`, "stage");
  const key = await db.signingKey.findFirst({
    where: { stageId: stage.id, retiredAt: null, revokedAt: null },
    orderBy: { notBefore: "desc" },
    select: { id: true, name: true, fingerprint: true, backend: true, notBefore: true },
  });
  if (!key) return { stage: stage.name, retiring: null, images: [], pending: 0 };
  const approvals = await db.approval.findMany({
    where: { signingKeyId: key.id, stageId: stage.id, revokedAt: null },
    orderBy: { createdAt: "desc" },
    take: LIMIT,
    select: {
      id: true,
      status: true,
      signedAt: true,
      image: { select: { digest: true, repository: { select: { name: true, registry: { select: { name: true } } } } } },
    },
  });
  return {
    stage: stage.name,
    retiring: { name: key.name, fingerprint: key.fingerprint, backend: key.backend, notBefore: key.notBefore.toISOString() },
    images: approvals
      .filter((a) => a.status === "signed")
      .map((a) => ({
        registry: a.image.repository.registry.name,
        repository: a.image.repository.name,
        digest: a.image.digest,
        approvalId: a.id,
        signedAt: a.signedAt?.toISOString() ?? null,
      })),
    pending: approvals.filter((a) => a.status === "signing").length,
  };
}
