import "server-only";
import { db } from "../../db";
import { OciError } from "../../oci/digest";
import { parseImageReference } from "../../oci/reference";

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
 * unless tags are refused), and the stage's decision computed ahead (stage_decisions, kept by SQL triggers in the
 * same transaction as every approval, signature, revocation, trust and risk change; see migration
 * 20261204110000_stage_decisions), which counts only a signed approval whose signature layer verified in the
 * registry. For a platform manifest, its index's approvals count (cosign signs the index).
 *
 * One round-trip: every enabled registry with, for the one holding the repository, the tag, the image, its index
 * and the decision, all by index. The host is matched here, in JavaScript, exactly as URLs parse.
 */
/** One row per enabled registry: the repository, tag and image the reference names there, and the stage's decision. */
type DecisionRow = {
  stage_id: string | null;
  reg_id: string | null;
  reg_name: string | null;
  url: string | null;
  pull_name: string | null;
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
  allowed: boolean | null;
  reasons: string[] | null;
};

/** One statement: every enabled registry's view of the reference, with the decision computed ahead (stage_decision_now). */
function lookupDecision(stage: string, ref: ReturnType<typeof parseImageReference>, tagName: string | null) {
  return db.$queryRaw<DecisionRow[]>`
    WITH st AS (SELECT id FROM stages WHERE name = ${stage})
    SELECT (SELECT id FROM st) AS stage_id, g.id AS reg_id, g.name AS reg_name, g.url, g.pull_name, x.*, dec.allowed, dec.reasons
    FROM (SELECT 1) one
    LEFT JOIN registries g ON g.enabled
    LEFT JOIN LATERAL (
      SELECT repo.id AS repo_id, t.digest AS tag_digest, t.updated_at AS tag_updated_at,
             i.id AS image_id, i.digest, i.parent_digest, i.deleted_at, i.sig_checked_at, i.last_seen_at,
             p.id AS parent_id, p.sig_checked_at AS parent_sig_checked_at, p.last_seen_at AS parent_last_seen_at
      FROM repositories repo
      LEFT JOIN tags t ON ${tagName !== null} AND t.repository_id = repo.id AND t.name = ${tagName ?? ""}
      LEFT JOIN images i ON i.repository_id = repo.id AND i.digest = COALESCE(${ref.digest ?? null}::text, t.digest)
      LEFT JOIN images p ON p.repository_id = i.repository_id AND p.digest = i.parent_digest
      WHERE repo.registry_id = g.id AND repo.name = ${ref.repository}
    ) x ON true
    LEFT JOIN LATERAL (
      SELECT d.allowed, d.reasons FROM stage_decision_now(COALESCE(x.parent_id, x.image_id), (SELECT id FROM st)) d
      WHERE x.image_id IS NOT NULL AND x.deleted_at IS NULL
    ) dec ON true
    ORDER BY g.created_at, g.id`;
}

export async function evaluateImage({ image, stage, refuseTags }: { image: string; stage: string; refuseTags: boolean }): Promise<ImageVerdict> {
  const deny = (reasons: string[], extra: Partial<ImageVerdict> = {}): ImageVerdict => ({
    image,
    allowed: false,
    digest: null,
    resolvedFromTag: null,
    reasons,
    asOf: null,
    ...extra,
  });
  let ref;
  try {
    ref = parseImageReference(image);
  } catch (e) {
    if (e instanceof OciError) return deny([e.message]);
    throw e;
  }
  const tagName = ref.digest ? null : (ref.tag ?? "latest");
  const rows = await lookupDecision(stage, ref, tagName);
  if (!rows[0]?.stage_id) return deny([`unknown stage ${stage}`]);
  const host = ref.host.toLowerCase();
  const row = rows.find((r) => r.url !== null && (hostOf(r.url) === host || (r.pull_name && hostOf(r.pull_name.split("/")[0]!) === host)));
  if (!row) return deny([`registry ${ref.host} is not one Imprimatur watches`]);
  if (tagName && refuseTags) return deny([`${image} is referenced by tag ${tagName}; only digests are accepted (a tag can move after it is checked)`]);
  if (!row.repo_id) return deny([`repository ${ref.repository} is unknown in registry ${row.reg_name}`]);

  let digest: string | null = ref.digest ?? null;
  let resolvedFromTag: string | null = null;
  const reasons: string[] = [];
  if (!digest) {
    if (!row.tag_digest) return deny([`tag ${tagName} is unknown in ${row.reg_name}/${ref.repository} as of the last sync`]);
    digest = row.tag_digest;
    resolvedFromTag = tagName;
    reasons.push(`tag ${tagName} resolved to ${digest} from the sync of ${row.tag_updated_at!.toISOString()}; the tag may have moved since`);
  }
  if (!row.image_id) return deny([...reasons, `${digest} is unknown in ${row.reg_name}/${ref.repository}`], { digest, resolvedFromTag });
  if (row.deleted_at) return deny([...reasons, `${digest} was deleted from the registry on ${row.deleted_at.toISOString()}`], { digest, resolvedFromTag });
  // A platform manifest is covered by its index's signature.
  if (row.parent_id) reasons.push(`platform manifest of index ${row.parent_digest}, whose signatures cover it`);
  const asOf = (
    (row.parent_id ? row.parent_sig_checked_at : row.sig_checked_at) ?? (row.parent_id ? row.parent_last_seen_at : row.last_seen_at)!
  ).toISOString();
  if (row.allowed === null || !row.reasons) throw new Error(`no decision for ${digest} at stage ${stage}`);
  if (row.allowed) return { image, allowed: true, digest, resolvedFromTag, reasons: [...reasons, ...row.reasons], asOf };
  return deny([...reasons, ...row.reasons], { digest, resolvedFromTag, asOf });
}

/** The stage a namespace requires, or "exempt", or null when neither the namespace nor "*" is configured. */
export async function namespaceRequirement(namespace: string): Promise<{ exempt: true } | { exempt: false; stage: string } | null> {
  // Raw SQL, one round-trip: this runs on every ImageReview.
  const rows = await db.$queryRaw<{ namespace: string; exempt: boolean; stage: string | null }[]>`
    SELECT n.namespace, n.exempt, s.name AS stage FROM namespace_policies n LEFT JOIN stages s ON s.id = n.stage_id WHERE n.namespace IN (${namespace}, '*')`;
  const row = rows.find((r) => r.namespace === namespace) ?? rows.find((r) => r.namespace === "*");
  if (!row) return null;
  if (row.exempt) return { exempt: true };
  return row.stage ? { exempt: false, stage: row.stage } : null;
}
