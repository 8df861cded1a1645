import "server-only";
import { db } from "../../db";
import { OciError } from "../../oci/digest";
import { parseImageReference } from "../../oci/reference";
import { stageStatuses } from "../images/stage-status";

export interface ImageVerdict {
  image: string;
  allowed: boolean;
  digest: string | null;
  /** Set when the reference was a tag that Imprimatur resolved from its stored state. */
  resolvedFromTag: string | null;
  reasons: string[];
  /** The time of the state judged: when this digest's signatures were last read from the registry. */
  asOf: string | null;
}

const hostOf = (s: string) => {
  try {
    return new URL(s.includes("://") ? s : `https://${s}`).host.toLowerCase();
  } catch {
    return s.toLowerCase();
  }
};

/**
 * May this image enter `stage`? Answered from state already in Postgres, with no registry round-trip: the
 * reference's registry (by URL host or pull name), the digest (a tag is resolved from the last sync, and said so,
 * unless tags are refused), and the stage's status, which counts only a signed approval whose signature layer
 * verified in the registry. For a platform manifest, its index's approvals count (cosign signs the index).
 */
export async function evaluateImage({ image, stage, refuseTags }: { image: string; stage: string; refuseTags: boolean }): Promise<ImageVerdict> {
  const deny = (reasons: string[], extra: Partial<ImageVerdict> = {}): ImageVerdict => ({ image, allowed: false, digest: null, resolvedFromTag: null, reasons, asOf: null, ...extra });
  let ref;
  try {
    ref = parseImageReference(image);
  } catch (e) {
    if (e instanceof OciError) return deny([e.message]);
    throw e;
  }
  const stageRow = await db.stage.findUnique({ where: { name: stage } });
  if (!stageRow) return deny([`unknown stage ${stage}`]);
  const registries = await db.registry.findMany({ where: { enabled: true }, select: { id: true, name: true, url: true, pullName: true } });
  const host = ref.host.toLowerCase();
  const reg = registries.find((r) => hostOf(r.url) === host || (r.pullName && hostOf(r.pullName.split("/")[0]!) === host));
  if (!reg) return deny([`registry ${ref.host} is not one Imprimatur watches`]);
  const repo = await db.repository.findUnique({ where: { registryId_name: { registryId: reg.id, name: ref.repository } } });
  if (!repo) return deny([`repository ${ref.repository} is unknown in registry ${reg.name}`]);

  let digest: string | null = ref.digest ?? null;
  let resolvedFromTag: string | null = null;
  const reasons: string[] = [];
  if (!digest) {
    if (refuseTags) return deny([`${image} is referenced by tag ${ref.tag ?? "latest"}; only digests are accepted (a tag can move after it is checked)`]);
    const tagName = ref.tag ?? "latest";
    const tag = await db.tag.findUnique({ where: { repositoryId_name: { repositoryId: repo.id, name: tagName } } });
    if (!tag) return deny([`tag ${tagName} is unknown in ${reg.name}/${ref.repository} as of the last sync`]);
    digest = tag.digest;
    resolvedFromTag = tagName;
    reasons.push(`tag ${tagName} resolved to ${digest} from the sync of ${tag.updatedAt.toISOString()}; the tag may have moved since`);
  }
  const withState = {
    signatures: { select: { layerDigest: true, verdict: true, keyName: true } },
    approvals: { select: { stageId: true, status: true, layerDigest: true, createdAt: true, signedAt: true, approver: { select: { name: true } } } },
  } as const;
  const img = await db.image.findUnique({ where: { repositoryId_digest: { repositoryId: repo.id, digest } }, include: withState });
  if (!img) return deny([...reasons, `${digest} is unknown in ${reg.name}/${ref.repository}`], { digest, resolvedFromTag });
  if (img.deletedAt) return deny([...reasons, `${digest} was deleted from the registry on ${img.deletedAt.toISOString()}`], { digest, resolvedFromTag });
  // A platform manifest is covered by its index's signature.
  const judged = img.parentDigest
    ? ((await db.image.findUnique({
        where: { repositoryId_digest: { repositoryId: repo.id, digest: img.parentDigest } },
        include: withState,
      })) ?? img)
    : img;
  if (judged !== img) reasons.push(`platform manifest of index ${judged.digest}, whose signatures cover it`);
  const stages = await db.stage.findMany({ orderBy: { position: "asc" } });
  const status = stageStatuses(stages, judged.approvals, judged.signatures).statuses.find((s) => s.stage === stage)!;
  const asOf = (judged.sigCheckedAt ?? judged.lastSeenAt).toISOString();
  if (status.state === "approved") {
    return { image, allowed: true, digest, resolvedFromTag, reasons: [...reasons, `stage ${stage} passed: ${status.detail}${status.approver ? `, approved by ${status.approver}` : ""}`], asOf };
  }
  const why: Record<string, string> = {
    "not approved": `stage ${stage} has no approval for this digest`,
    "signature pending": `stage ${stage} was approved but its signature is not yet in the registry`,
    "signed, not verified": `stage ${stage} was signed but the signature does not verify in the registry (${status.detail})`,
  };
  return deny([...reasons, why[status.state] ?? `stage ${stage}: ${status.state}`], { digest, resolvedFromTag, asOf });
}

/** The stage a namespace requires, or "exempt", or null when neither the namespace nor "*" is configured. */
export async function namespaceRequirement(namespace: string): Promise<{ exempt: true } | { exempt: false; stage: string } | null> {
  const rows = await db.namespacePolicy.findMany({ where: { namespace: { in: [namespace, "*"] } }, include: { stage: { select: { name: true } } } });
  const row = rows.find((r) => r.namespace === namespace) ?? rows.find((r) => r.namespace === "*");
  if (!row) return null;
  if (row.exempt) return { exempt: true };
  return row.stage ? { exempt: false, stage: row.stage.name } : null;
}
