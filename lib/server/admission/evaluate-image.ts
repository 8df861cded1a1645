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
  // Few round-trips on purpose: this answers admission webhooks at hundreds of requests per second.
  const [stages, registries] = await Promise.all([
    db.$queryRaw<{ id: string; name: string; position: number; approvalTtlDays: number | null }[]>`SELECT id, name, position, approval_ttl_days AS "approvalTtlDays" FROM stages ORDER BY position`,
    db.$queryRaw<{ id: string; name: string; url: string; pull_name: string | null }[]>`SELECT id, name, url, pull_name FROM registries WHERE enabled`,
  ]);
  if (!stages.some((s) => s.name === stage)) return deny([`unknown stage ${stage}`]);
  const host = ref.host.toLowerCase();
  const reg = registries.find((r) => hostOf(r.url) === host || (r.pull_name && hostOf(r.pull_name.split("/")[0]!) === host));
  if (!reg) return deny([`registry ${ref.host} is not one Imprimatur watches`]);

  const tagName = ref.digest ? null : (ref.tag ?? "latest");
  if (tagName && refuseTags) return deny([`${image} is referenced by tag ${tagName}; only digests are accepted (a tag can move after it is checked)`]);
  // One query: the repository, the tag (when asked by tag), the image and, for a platform manifest, its index.
  const [row] = await db.$queryRaw<
    {
      repo_id: string | null;
      tag_digest: string | null;
      tag_updated_at: Date | null;
      image_id: string | null;
      digest: string | null;
      parent_digest: string | null;
      deleted_at: Date | null;
      sig_checked_at: Date | null;
      last_seen_at: Date | null;
      parent_id: string | null;
      parent_sig_checked_at: Date | null;
      parent_last_seen_at: Date | null;
    }[]
  >`
    WITH repo AS (SELECT id FROM repositories WHERE registry_id = ${reg.id}::uuid AND name = ${ref.repository}),
    tag AS (SELECT t.digest, t.updated_at FROM tags t, repo WHERE t.repository_id = repo.id AND t.name = ${tagName ?? ""} AND ${tagName !== null}),
    img AS (
      SELECT i.id, i.digest, i.parent_digest, i.deleted_at, i.sig_checked_at, i.last_seen_at, i.repository_id FROM images i, repo
      WHERE i.repository_id = repo.id AND i.digest = COALESCE(${ref.digest ?? null}::text, (SELECT digest FROM tag))
    )
    SELECT (SELECT id FROM repo) AS repo_id, (SELECT digest FROM tag) AS tag_digest, (SELECT updated_at FROM tag) AS tag_updated_at,
           img.id AS image_id, img.digest, img.parent_digest, img.deleted_at, img.sig_checked_at, img.last_seen_at,
           p.id AS parent_id, p.sig_checked_at AS parent_sig_checked_at, p.last_seen_at AS parent_last_seen_at
    FROM (SELECT 1) one
    LEFT JOIN img ON true
    LEFT JOIN images p ON p.repository_id = img.repository_id AND p.digest = img.parent_digest`;
  if (!row?.repo_id) return deny([`repository ${ref.repository} is unknown in registry ${reg.name}`]);

  let digest: string | null = ref.digest ?? null;
  let resolvedFromTag: string | null = null;
  const reasons: string[] = [];
  if (!digest) {
    if (!row.tag_digest) return deny([`tag ${tagName} is unknown in ${reg.name}/${ref.repository} as of the last sync`]);
    digest = row.tag_digest;
    resolvedFromTag = tagName;
    reasons.push(`tag ${tagName} resolved to ${digest} from the sync of ${row.tag_updated_at!.toISOString()}; the tag may have moved since`);
  }
  if (!row.image_id) return deny([...reasons, `${digest} is unknown in ${reg.name}/${ref.repository}`], { digest, resolvedFromTag });
  if (row.deleted_at) return deny([...reasons, `${digest} was deleted from the registry on ${row.deleted_at.toISOString()}`], { digest, resolvedFromTag });
  // A platform manifest is covered by its index's signature.
  const judgedId = row.parent_id ?? row.image_id;
  if (row.parent_id) reasons.push(`platform manifest of index ${row.parent_digest}, whose signatures cover it`);
  // Started alongside the approvals (no extra round-trip): a stage at risk still allows under onRegression "flag",
  // with a warning reason (lib/server/reevaluation).
  const risk = db.$queryRaw<{ since: Date; reasons: string[]; revoke_at: Date | null }[]>`
    SELECT r.since, r.reasons, r.revoke_at FROM stage_risks r JOIN stages s ON s.id = r.stage_id WHERE r.image_id = ${judgedId}::uuid AND s.name = ${stage}`.then(
    (rows) => rows[0] ?? null,
    () => null,
  );
  const [approvals, signatures] = await Promise.all([
    db.$queryRaw<{ stageId: string; status: "signing" | "signed"; layerDigest: string; createdAt: Date; signedAt: Date | null; revokedAt: Date | null; revokedBy: string | null; revocationReason: string | null; timestampAt: Date | null; approverName: string }[]>`
      SELECT a.stage_id AS "stageId", a.status::text AS status, a.layer_digest AS "layerDigest", a.created_at AS "createdAt", a.signed_at AS "signedAt",
             a.revoked_at AS "revokedAt", a.revoked_by AS "revokedBy", a.revocation_reason AS "revocationReason", a.timestamp_at AS "timestampAt", u.name AS "approverName"
      FROM approvals a JOIN users u ON u.id = a.approver_id WHERE a.image_id = ${judgedId}::uuid`,
    db.$queryRaw<{ layerDigest: string; verdict: string; keyName: string | null }[]>`
      SELECT layer_digest AS "layerDigest", verdict, key_name AS "keyName" FROM signatures WHERE image_id = ${judgedId}::uuid`,
  ]);
  const judged = {
    approvals: approvals.map((a) => ({ ...a, approver: { name: a.approverName } })),
    signatures,
    sigCheckedAt: row.parent_id ? row.parent_sig_checked_at : row.sig_checked_at,
    lastSeenAt: (row.parent_id ? row.parent_last_seen_at : row.last_seen_at)!,
  };
  const status = stageStatuses(stages, judged.approvals, judged.signatures).statuses.find((s) => s.stage === stage)!;
  const asOf = (judged.sigCheckedAt ?? judged.lastSeenAt).toISOString();
  if (status.state === "approved") {
    const r = await risk;
    const warning = r ? [`warning: at risk since ${r.since.toISOString()}, the gates of ${stage} no longer hold${r.revoke_at ? ` (revoked at ${r.revoke_at.toISOString()} unless waived)` : ""}: ${r.reasons.join("; ")}`] : [];
    return { image, allowed: true, digest, resolvedFromTag, reasons: [...reasons, `stage ${stage} passed: ${status.detail}${status.approver ? `, approved by ${status.approver}` : ""}`, ...warning], asOf };
  }
  const why: Record<string, string> = {
    "not approved": `stage ${stage} has no approval for this digest`,
    "signature pending": `stage ${stage} was approved but its signature is not yet in the registry`,
    "signed, not verified": `stage ${stage} was signed but the signature does not verify in the registry (${status.detail})`,
    // An accepted revocation denies at once, before the registry has lost the layer (it may be down: "pending").
    revoked: `stage ${stage} approval revoked: ${status.detail}`,
    "approval expired": `stage ${stage} approval expired: ${status.detail}`,
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
