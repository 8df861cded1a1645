import "server-only";
import { pgPool } from "../../db";
import { OciError } from "../../oci/digest";
import { parseImageReference } from "../../oci/reference";
import { groupLookups } from "./group-lookups";

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

/** One row per enabled registry: the repository, tag and image the reference names there, and the stage's decision. */
export type DecisionRow = {
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
  /** The index judged for a platform manifest: one whose platform list names it, admitting first (else parent_digest). */
  covering_digest: string | null;
  deleted_at: Date | null;
  sig_checked_at: Date | null;
  last_seen_at: Date | null;
  parent_id: string | null;
  parent_sig_checked_at: Date | null;
  parent_last_seen_at: Date | null;
  /** When the judged index (covering_digest) was found deleted from the registry: it admits nothing then. */
  parent_deleted_at: Date | null;
  /** The image is an entry its index marks as a buildx attestation manifest (images.platforms[].attestation). */
  attestation_entry: boolean | null;
  allowed: boolean | null;
  reasons: string[] | null;
};

/**
 * Every enabled registry's view of one reference (q: repository, digest, tag), with the decision computed ahead
 * (stage_decisions, kept by SQL triggers in the same transaction as every approval, signature, revocation, trust and
 * risk change; see migration 20261204110000_stage_decisions) for stage id `stage_ref`. All by index. Shared by the
 * verify statement and the ImageReview statement below, which differ in where q and the stage come from.
 *
 * A platform manifest is judged by an index that lists it: images.parent_digest names only the first index it was
 * synced under, and the same platform build is often shared by a later index (a multi-arch tag re-published with one
 * platform rebuilt), whose approval covers it just as well, since that index's signature covers its platform list.
 * So every index of the repository whose platforms name the digest is a candidate (by the GIN index over
 * images.platforms, and only for a manifest that has a parent at all), and the first that is still in the registry and
 * admits it at the stage, not as an attestation entry, is the one judged; when none does, one still in the registry
 * gives the reasons (the first parent first), and an index deleted from the registry, chosen only when every candidate
 * is, admits nothing (judge).
 */
const REGISTRY_VIEW = (stageRef: string, registryJoin: string) => `
    LEFT JOIN registries g ON ${registryJoin}
    LEFT JOIN LATERAL (
      SELECT repo.id AS repo_id, t.digest AS tag_digest, t.updated_at AS tag_updated_at,
             i.id AS image_id, i.digest, i.parent_digest, i.deleted_at, i.sig_checked_at, i.last_seen_at,
             p.id AS parent_id, p.sig_checked_at AS parent_sig_checked_at, p.last_seen_at AS parent_last_seen_at,
             COALESCE(p.digest, i.parent_digest) AS covering_digest, p.attestation AS attestation_entry,
             p.deleted_at AS parent_deleted_at
      FROM repositories repo
      LEFT JOIN tags t ON q.tag IS NOT NULL AND t.repository_id = repo.id AND t.name = q.tag
      LEFT JOIN images i ON i.repository_id = repo.id AND i.digest = COALESCE(q.digest, t.digest)
      LEFT JOIN LATERAL (
        SELECT c.id, c.digest, c.sig_checked_at, c.last_seen_at, c.deleted_at,
               c.platforms @> jsonb_build_array(jsonb_build_object('digest', i.digest, 'attestation', true)) AS attestation
        FROM (
          SELECT c.id, c.digest, c.sig_checked_at, c.last_seen_at, c.platforms, c.deleted_at FROM images c
          WHERE c.repository_id = i.repository_id AND c.digest = i.parent_digest
          UNION ALL
          SELECT c.id, c.digest, c.sig_checked_at, c.last_seen_at, c.platforms, c.deleted_at FROM images c
          WHERE i.parent_digest IS NOT NULL AND c.platforms @> jsonb_build_array(jsonb_build_object('digest', i.digest))
            AND c.repository_id = i.repository_id AND c.digest <> i.parent_digest AND c.deleted_at IS NULL
        ) c
        ORDER BY (c.deleted_at IS NULL AND NOT c.platforms @> jsonb_build_array(jsonb_build_object('digest', i.digest, 'attestation', true))
                  AND (SELECT d.allowed FROM stage_decision_now(c.id, ${stageRef}) d) IS TRUE) DESC,
                 c.deleted_at IS NULL DESC, c.digest = i.parent_digest DESC, c.digest
        LIMIT 1
      ) p ON true
      WHERE repo.registry_id = g.id AND repo.name = q.repository
    ) x ON true
    LEFT JOIN LATERAL (
      SELECT d.allowed, d.reasons FROM stage_decision_now(COALESCE(x.parent_id, x.image_id), ${stageRef}) d
      WHERE x.image_id IS NOT NULL AND x.deleted_at IS NULL
    ) dec ON true`;

const COLUMNS = `g.id AS reg_id, g.name AS reg_name, g.url, g.pull_name, x.*, dec.allowed, dec.reasons`;

/**
 * verify: the lookups of concurrent verify requests in one statement (group-lookups.ts), a named prepared statement
 * on the pool (parsed once per connection; Prisma's raw-query path cost more CPU than the statement at admission
 * rates). Parallel arrays, one entry per lookup: $1 stage names, $2 repositories, $3 digests, $4 tags. Rows come
 * ordered by lookup (ord, 1-based) then registry, at least one per lookup (its stage_id is null for an unknown stage).
 *
 * Written so that Postgres can run it from a cached plan (issue 17: planning it cost more than running it):
 * - the stage is a joined row (st.id), not a scalar sub-select: Postgres inlines a SQL function such as
 *   stage_decision_now only when its arguments hold no sub-select; otherwise it ran as a separate function call that
 *   planned its body again on every execution;
 * - the arrays are read through sub-selects, as in REVIEW_LOOKUP, so that custom and generic plans size them alike
 *   and the plan cache keeps the generic plan (admission.int.test.ts checks it).
 */
export const VERIFY_LOOKUP = {
  name: "imprimatur_verify_lookup_grouped",
  text: `WITH q AS (
        SELECT * FROM unnest((SELECT $1::text[]), (SELECT $2::text[]), (SELECT $3::text[]), (SELECT $4::text[])) WITH ORDINALITY
          AS r(stage, repository, digest, tag, ord))
    SELECT q.ord, st.id AS stage_id, ${COLUMNS}
    FROM q LEFT JOIN stages st ON st.name = q.stage ${REGISTRY_VIEW("st.id", "g.enabled")}
    ORDER BY q.ord, g.created_at, g.id`,
};

type VerifyLookup = { stage: string; repository: string; digest: string | null; tag: string | null };
type VerifyRow = DecisionRow & { ord: string; stage_id: string | null };

/** One grouped statement for any number of verify lookups; each gets its own rows, in registry order. */
async function runVerifyLookups(lookups: VerifyLookup[]): Promise<VerifyRow[][]> {
  const { rows } = await pgPool().query<VerifyRow>({
    ...VERIFY_LOOKUP,
    values: [lookups.map((l) => l.stage), lookups.map((l) => l.repository), lookups.map((l) => l.digest), lookups.map((l) => l.tag)],
  });
  const out: VerifyRow[][] = lookups.map(() => []);
  for (const r of rows) out[Number(r.ord) - 1]!.push(r);
  return out;
}

const lookupVerify = groupLookups(runVerifyLookups);

/**
 * ImageReview: for the reviews of concurrent requests in one statement (group-lookups.ts), each review's namespace
 * policy (its own row, else "*") and, when it names a stage, every container's view. $1 namespaces (one per review,
 * rq 1-based); then one entry per container reference that parsed: $2 its review (rq), $3 repositories, $4 digests,
 * $5 tags. Rows come ordered by review, container (ord, 1-based over the whole statement) then registry; a review
 * with no policy, or an exempt one, has a single row that carries the policy and no container. The arrays are read
 * through sub-selects so that the planner sizes them alike in custom and generic plans (a literal array's length is
 * seen only by a custom plan, which then always looked cheaper): the plan cache keeps the generic plan, and a review
 * is not planned again each time.
 */
export const REVIEW_LOOKUP = {
  name: "imprimatur_review_lookup_grouped",
  text: `WITH rv AS (SELECT * FROM unnest((SELECT $1::text[])) WITH ORDINALITY AS v(namespace, rq)),
      ns AS (
        SELECT rv.rq, p.exempt, p.stage_id, p.stage FROM rv LEFT JOIN LATERAL (
          SELECT n.exempt, n.stage_id, s.name AS stage FROM namespace_policies n LEFT JOIN stages s ON s.id = n.stage_id
          WHERE n.namespace IN (rv.namespace, '*') ORDER BY (n.namespace = rv.namespace) DESC LIMIT 1) p ON true),
      refs AS (
        SELECT * FROM unnest((SELECT $2::int[]), (SELECT $3::text[]), (SELECT $4::text[]), (SELECT $5::text[])) WITH ORDINALITY
          AS r(rq, repository, digest, tag, ord))
    SELECT ns.rq, ns.exempt AS ns_exempt, ns.stage AS ns_stage, q.ord, ${COLUMNS}
    FROM ns
    LEFT JOIN refs q ON q.rq = ns.rq AND NOT ns.exempt AND ns.stage IS NOT NULL ${REGISTRY_VIEW("ns.stage_id", "q.ord IS NOT NULL AND g.enabled")}
    ORDER BY ns.rq, q.ord, g.created_at, g.id`,
};

type ReviewLookup = { namespace: string; refs: { repository: string; digest: string | null; tag: string | null }[] };
type ReviewRow = DecisionRow & { rq: string; ns_exempt: boolean | null; ns_stage: string | null; ord: string | null };

/** One grouped statement for any number of reviews; each gets its own rows, with ord counted within the review. */
async function runReviewLookups(reviews: ReviewLookup[]): Promise<ReviewRow[][]> {
  const refs = reviews.flatMap((r, i) => r.refs.map((ref) => ({ rq: i + 1, ...ref })));
  const { rows } = await pgPool().query<ReviewRow>({
    ...REVIEW_LOOKUP,
    values: [reviews.map((r) => r.namespace), refs.map((r) => r.rq), refs.map((r) => r.repository), refs.map((r) => r.digest), refs.map((r) => r.tag)],
  });
  // The global ord of a review's first container, less one: what turns a global ord into one within its review.
  const offset: number[] = [];
  reviews.reduce((n, r, i) => ((offset[i] = n), n + r.refs.length), 0);
  const out: ReviewRow[][] = reviews.map(() => []);
  for (const r of rows) {
    const i = Number(r.rq) - 1;
    out[i]!.push(r.ord === null ? r : { ...r, ord: String(Number(r.ord) - offset[i]!) });
  }
  return out;
}

const lookupReview = groupLookups(runReviewLookups);

type Ref = ReturnType<typeof parseImageReference>;

/** The verdict on one parsed reference from its registry rows: the same reasons, in the same order, for verify and ImageReview. */
function judge(image: string, ref: Ref, tagName: string | null, stage: string, rows: DecisionRow[], refuseTags: boolean): ImageVerdict {
  const deny = (reasons: string[], extra: Partial<ImageVerdict> = {}): ImageVerdict => ({
    image,
    allowed: false,
    digest: null,
    resolvedFromTag: null,
    reasons,
    asOf: null,
    ...extra,
  });
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
  // An attestation manifest needs no scan of its own (platform-scan-coverage.ts), so its index's approval never admits
  // it: it holds in-toto statements, and nothing should run it.
  if (row.attestation_entry)
    return deny(
      [...reasons, `${digest} is an attestation manifest of index ${row.covering_digest}, not a runnable image; its index's approval does not admit it`],
      {
        digest,
        resolvedFromTag,
      },
    );
  // An index deleted from the registry admits nothing, though a platform it listed lives on in another index (which
  // would have been judged first had it admitted the platform).
  if (row.parent_id && row.parent_deleted_at)
    return deny(
      [
        ...reasons,
        `platform manifest of index ${row.covering_digest}, which was deleted from the registry on ${row.parent_deleted_at.toISOString()}; no index still there admits it`,
      ],
      { digest, resolvedFromTag },
    );
  // A platform manifest is covered by its index's signature.
  if (row.parent_id) reasons.push(`platform manifest of index ${row.covering_digest}, whose signatures cover it`);
  const asOf = (
    (row.parent_id ? row.parent_sig_checked_at : row.sig_checked_at) ?? (row.parent_id ? row.parent_last_seen_at : row.last_seen_at)!
  ).toISOString();
  if (row.allowed === null || !row.reasons) throw new Error(`no decision for ${digest} at stage ${stage}`);
  if (row.allowed) return { image, allowed: true, digest, resolvedFromTag, reasons: [...reasons, ...row.reasons], asOf };
  return deny([...reasons, ...row.reasons], { digest, resolvedFromTag, asOf });
}

/** A reference parsed, or the verdict that it does not parse. */
function parseRef(image: string): { ref: Ref; tagName: string | null } | { verdict: ImageVerdict } {
  // ImageReview's image strings reach here as the pod's author wrote them (imageReviewPodPaths): no reference holds a
  // control character, and a NUL must not reach Postgres.
  const control = /[\u0000-\u001f\u007f-\u009f]/.exec(image);
  if (control) {
    const cp = control[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    return {
      verdict: {
        image,
        allowed: false,
        digest: null,
        resolvedFromTag: null,
        reasons: [`not an image reference: it contains the control character U+${cp}`],
        asOf: null,
      },
    };
  }
  try {
    const ref = parseImageReference(image);
    return { ref, tagName: ref.digest ? null : (ref.tag ?? "latest") };
  } catch (e) {
    if (e instanceof OciError) return { verdict: { image, allowed: false, digest: null, resolvedFromTag: null, reasons: [e.message], asOf: null } };
    throw e;
  }
}

/**
 * May this image enter `stage`? Answered from state already in Postgres, with no registry round-trip: the
 * reference's registry (by URL host or pull name), the digest (a tag is resolved from the last sync, and said so,
 * unless tags are refused), and the stage's decision computed ahead, which counts only a signed approval whose
 * signature layer verified in the registry. For a platform manifest, its index's approvals count (cosign signs the
 * index). One indexed statement; the host is matched here, in JavaScript, exactly as URLs parse.
 */
export async function evaluateImage({ image, stage, refuseTags }: { image: string; stage: string; refuseTags: boolean }): Promise<ImageVerdict> {
  const parsed = parseRef(image);
  if ("verdict" in parsed) return parsed.verdict;
  const { ref, tagName } = parsed;
  const rows = await lookupVerify({ stage, repository: ref.repository, digest: ref.digest ?? null, tag: tagName });
  if (!rows[0]?.stage_id) return { image, allowed: false, digest: null, resolvedFromTag: null, reasons: [`unknown stage ${stage}`], asOf: null };
  return judge(image, ref, tagName, stage, rows, refuseTags);
}

export type NamespaceRequirement = { exempt: true } | { exempt: false; stage: string } | null;

/**
 * ImageReview's reads in one statement: the stage the namespace requires (or exempt, or null when neither the
 * namespace nor "*" is configured) and, when it requires one, each image's verdict for it, in order. Tags are
 * refused (the kubelet resolves a tag again later).
 */
export async function evaluateReview({
  namespace,
  images,
}: {
  namespace: string;
  images: string[];
}): Promise<{ requirement: NamespaceRequirement; verdicts: ImageVerdict[] }> {
  const parsed = images.map(parseRef);
  // A pod often names one image more than once (init containers, sidecars, replicas of a container): each distinct
  // (repository, digest, tag) is looked up once, and every container naming it is judged from the same rows (the
  // registry is matched per container, by its own host).
  const keys = new Map<string, number>();
  const refs: { repository: string; digest: string | null; tag: string | null }[] = [];
  const asked = parsed.flatMap((p, i) => {
    if (!("ref" in p)) return [];
    const ref = { repository: p.ref.repository, digest: p.ref.digest ?? null, tag: p.tagName };
    const key = `${ref.repository}\n${ref.digest ?? ""}\n${ref.tag ?? ""}`;
    let k = keys.get(key);
    if (k === undefined) keys.set(key, (k = refs.push(ref) - 1));
    return [{ i, ref: p.ref, tagName: p.tagName, k }];
  });
  const rows = await lookupReview({ namespace, refs });
  const first = rows[0];
  if (!first || first.ns_exempt === null) return { requirement: null, verdicts: [] };
  if (first.ns_exempt) return { requirement: { exempt: true }, verdicts: [] };
  if (first.ns_stage === null) return { requirement: null, verdicts: [] };
  const stage = first.ns_stage;
  const byOrd = new Map<number, DecisionRow[]>();
  for (const r of rows) {
    if (r.ord === null) continue;
    const k = Number(r.ord);
    const list = byOrd.get(k) ?? [];
    list.push(r);
    byOrd.set(k, list);
  }
  const verdicts = parsed.map((p) => ("verdict" in p ? p.verdict : null));
  for (const a of asked) verdicts[a.i] = judge(images[a.i]!, a.ref, a.tagName, stage, byOrd.get(a.k + 1) ?? [], true);
  return { requirement: { exempt: false, stage }, verdicts: verdicts as ImageVerdict[] };
}
