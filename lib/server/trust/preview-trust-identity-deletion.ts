import "server-only";
import { db } from "../../db";
import { AppError } from "../../errors";
import { requireRole, type Actor } from "../actor";

export interface PreviewTrustIdentityDeletionOptions {
  actor: Actor;
  name: string;
}

export interface TrustIdentityDeletionPreview {
  name: string;
  kind: string;
  role: string;
  /** Signatures this identity vouched for at their last check: they stop verifying at the next sync. */
  signatures: { registry: string; repository: string; digest: string; role: string | null; layerDigest: string; format: string }[];
  /** Distinct images among them. */
  images: number;
}

const LIMIT = 500;

/** Read-only: which verified signatures deleting trust identity `name` would leave without a vouching identity. */
export async function previewTrustIdentityDeletion({ actor, name }: PreviewTrustIdentityDeletionOptions): Promise<TrustIdentityDeletionPreview> {
  requireRole(actor, ["admin"], "managing trust identities");
  const identity = await db.trustIdentity.findUnique({ where: { name }, select: { name: true, kind: true, role: true } });
  if (!identity) throw new AppError("NOT_FOUND", `no trust identity ${name}`);
  // keyName holds the identity that vouched (set only for a verified signature); trustedBy the anchor a
  // certificate chained to. Either way, without this identity the check fails.
  const rows = await db.signature.findMany({
    where: { verdict: "verified", OR: [{ keyName: name }, { trustedBy: name }] },
    orderBy: { checkedAt: "desc" },
    take: LIMIT,
    select: {
      layerDigest: true,
      role: true,
      format: true,
      image: { select: { id: true, digest: true, repository: { select: { name: true, registry: { select: { name: true } } } } } },
    },
  });
  return {
    ...identity,
    signatures: rows.map((r) => ({
      registry: r.image.repository.registry.name,
      repository: r.image.repository.name,
      digest: r.image.digest,
      role: r.role,
      layerDigest: r.layerDigest,
      format: r.format,
    })),
    images: new Set(rows.map((r) => r.image.id)).size,
  };
}
