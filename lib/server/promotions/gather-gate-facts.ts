import "server-only";
import { Prisma, type db, type Tx } from "../../db";
import { uncoveredBy, type DiscountedAdvisoryFact, type DiscountedEvidenceFact, type GateFacts, type WaiverFact } from "../../policy/gates";
import { componentKeys } from "../../evidence/osv";
import { vexApplies } from "../advisories/match-advisories";
import { mergeFindingRows, NOT_APPLICABLE } from "../evidence/get-image-evidence";
import { readStageDecisions } from "../images/read-stage-decisions";
import { findBaseImage } from "../images/find-base-image";
import { imagePlatformsColumn, readJson } from "../json-columns";
import { indexPlatformSubjects, platformScanCoverage, type PlatformSubjects } from "../../policy/platform-scan-coverage";
import type { Platform } from "../../oci/manifest";

/** Finding rows (across scanners and advisories) the gates read for one image; more and the findings gate fails closed. */
export const MAX_GATE_FINDING_ROWS = 50_000;

type Client = Tx | typeof db;

type ActiveWaiver = WaiverFact & { grantedById: string; grantorStanding: string | null };

/**
 * Active waivers (not revoked, not expired) for a stage that cover this image: its digest or its whole repository,
 * each with its grantor's standing now (`grantorStanding`, null while the waiver may count). A waiver is a reviewer's
 * decision: it counts only while its grantor could still grant it, the rule grantWaiver enforces (an enabled account in
 * the stage's waiver group). One statement: the grantor and the membership are joined, not read afterwards.
 */
export async function activeWaivers(
  client: Client,
  { stageId, repositoryId, digest, now }: { stageId: string; repositoryId: string; digest: string; now: Date },
): Promise<ActiveWaiver[]> {
  const rows = await client.$queryRaw<
    {
      id: string;
      gate: string;
      vuln_ids: string[];
      reason: string;
      expires_at: Date;
      granted_by_id: string;
      grantor_name: string;
      grantor_disabled: boolean;
      waiver_group: string | null;
      in_group: boolean;
    }[]
  >`
    SELECT w.id, w.gate, w.vuln_ids, w.reason, w.expires_at, w.granted_by_id, u.name AS grantor_name, u.disabled AS grantor_disabled,
           g.name AS waiver_group, (gm.user_id IS NOT NULL) AS in_group
    FROM waivers w
    JOIN users u ON u.id = w.granted_by_id
    JOIN stages s ON s.id = w.stage_id
    LEFT JOIN groups g ON g.id = s.waiver_group_id
    LEFT JOIN group_members gm ON gm.group_id = s.waiver_group_id AND gm.user_id = w.granted_by_id
    WHERE w.stage_id = ${stageId}::uuid AND w.repository_id = ${repositoryId}::uuid AND w.revoked_at IS NULL AND w.expires_at > ${now}
      AND (w.digest IS NULL OR w.digest = ${digest})
    ORDER BY w.created_at ASC, w.id ASC`;
  return rows.map((w) => ({
    id: w.id,
    gate: w.gate,
    vulnIds: w.vuln_ids,
    reason: w.reason,
    expiresAt: w.expires_at,
    grantedBy: w.grantor_name,
    grantedById: w.granted_by_id,
    grantorStanding: grantorStanding({ name: w.grantor_name, disabled: w.grantor_disabled, waiverGroup: w.waiver_group, inGroup: w.in_group }),
  }));
}

/**
 * Why a waiver's grantor could no longer grant it (so the waiver no longer counts), or null while they could: the
 * account is disabled, or is not in the stage's waiver group (removed from it, the stage's group changed, or none).
 */
export function grantorStanding({ name, disabled, waiverGroup, inGroup }: { name: string; disabled: boolean; waiverGroup: string | null; inGroup: boolean }) {
  if (disabled) return `grantor disabled (${name}'s account is disabled)`;
  if (!waiverGroup) return `grantor no longer may grant it (the stage has no waiver group now)`;
  if (!inGroup) return `grantor no longer may grant it (${name} is not in waiver group ${waiverGroup} now)`;
  return null;
}

/**
 * Waivers that do not count for the request: one whose grantor may no longer grant it (disabled, out of the waiver
 * group), and four eyes, one granted by the requester, by an approver of the request or by the build's author.
 */
function splitWaivers(allWaivers: ActiveWaiver[], requesterId: string | null, approvers: ReadonlySet<string>, builders: Set<string>) {
  const waivers: WaiverFact[] = [];
  const discountedWaivers: (WaiverFact & { why: string })[] = [];
  for (const { grantedById, grantorStanding: standing, ...w } of allWaivers) {
    if (standing) discountedWaivers.push({ ...w, why: standing });
    else if (requesterId && grantedById === requesterId) discountedWaivers.push({ ...w, why: `four eyes, ${w.grantedBy} requested this promotion` });
    else if (approvers.has(grantedById))
      discountedWaivers.push({ ...w, why: `four eyes, ${w.grantedBy} approves this promotion: the exception and the approval need two people` });
    else if (builders.has(grantedById)) discountedWaivers.push({ ...w, why: `four eyes, ${w.grantedBy} uploaded this build's provenance` });
    else waivers.push(w);
  }
  return { waivers, discountedWaivers };
}

/**
 * Four eyes on evidence. A document no key trusted in its role signed (signature_status other than 'signed') is only
 * what its uploader says: uploaded by the request's requester or one of its approvers, it counts for no gate of that
 * request (not as a scan, not as a VEX statement, not as an SBOM or provenance, not for signedEvidence), whatever the
 * order it came in. A signed one counts whoever uploaded it (the signature vouches, not the uploader); registry
 * evidence has no uploader and is judged by the uploader rules instead (not_counted). The build's author is not
 * excluded: CI uploading its own provenance and scans is the normal path.
 *
 * Its findings still count: a finding only makes a gate stricter. One rule, spelled twice: `countedForRequestSql` (the
 * provenance read) and `discountedWhy` (the documents, to say why).
 */
function countedForRequestSql(excluded: readonly string[]) {
  return Prisma.sql`(d.signature_status = 'signed' OR d.uploader_id IS NULL OR NOT (d.uploader_id = ANY(${[...excluded]}::uuid[])))`;
}

/** Why this document does not count for the request, or null when it does (the rule of countedForRequestSql). */
function discountedWhy(
  d: { kind: string; contentDigest: string; signatureStatus: string; uploaderId: string | null; uploadedBy: string },
  requesterId: string | null,
  approvers: ReadonlySet<string>,
): string | null {
  if (d.signatureStatus === "signed" || d.uploaderId === null) return null;
  const role = requesterId !== null && d.uploaderId === requesterId ? "requested" : approvers.has(d.uploaderId) ? "approves" : null;
  if (!role) return null;
  const key = d.kind === "provenance" ? "builder" : "scanner";
  const short = d.contentDigest.slice(0, "sha256:".length + 12);
  return `${d.kind} ${short} not counted: uploaded by ${d.uploadedBy}, who ${role} this promotion (four eyes: have it signed by a ${key} key or uploaded by another account)`;
}

/**
 * Four eyes on advisories. Any reviewer may import an OSV record, and a version dated now replaces the stored one: a
 * "withdrawn" record, a lower severity or narrower ranges of their own would clear the findings gate they are checked
 * by, fleet-wide. So the advisories concerning this image (their package keys meet those of its components, the ones
 * matching reads: live, counted, with a version) whose stored version one of `accounts` imported are named, each with
 * why; the findings gate then fails closed. The requester, the approvers and the build's author, as for waivers: an
 * advisory is a judgement about the image, not CI evidence. Mostly one indexed read: no advisory imported by them.
 */
async function discountedAdvisories(client: Client, imageId: string, accounts: ReadonlyMap<string, string>): Promise<DiscountedAdvisoryFact[]> {
  const ids = [...accounts.keys()];
  if (!ids.length || !(await client.advisory.findFirst({ where: { importedById: { in: ids } }, select: { id: true } }))) return [];
  const comps = await client.$queryRaw<{ name: string; purl: string | null; ecosystem: string | null }[]>`
    SELECT DISTINCT c.name, c.purl, c.ecosystem FROM components c JOIN evidence_documents d ON d.id = c.document_id AND d.withdrawn_at IS NULL AND d.not_counted IS NULL
    WHERE c.image_id = ${imageId}::uuid AND c.version IS NOT NULL`;
  const keys = [...new Set(comps.flatMap((c) => componentKeys(c).keys))];
  if (!keys.length) return [];
  const rows = await client.advisory.findMany({
    where: { importedById: { in: ids }, packageKeys: { hasSome: keys } },
    select: { id: true, importedBy: true, importedById: true },
    orderBy: { id: "asc" },
  });
  return rows.map((a) => ({ id: a.id, importedBy: a.importedBy, why: accounts.get(a.importedById!)! }));
}

type FindingRow = Awaited<ReturnType<typeof db.finding.findMany>>[number];

/**
 * Advisory findings say not_affected / fixed when a VEX statement matched them (match-advisories.ts), whoever uploaded
 * it. For a request, that holds only while a VEX statement that counts for it (a row of one of `vexDocumentIds`, the
 * VEX documents discountedWhy leaves in) still applies by the same rule (vexApplies); otherwise the finding is affected again: a VEX the
 * requester wrote suppresses nothing for their request.
 */
function rejudgeAdvisoryVex(rows: readonly FindingRow[], vexDocumentIds: ReadonlySet<string>): FindingRow[] {
  const byId = new Map<string, FindingRow[]>();
  for (const r of rows) {
    if (r.documentId === null || !vexDocumentIds.has(r.documentId) || !NOT_APPLICABLE.includes(r.status)) continue;
    for (const id of [r.vulnId, ...r.aliases]) {
      const key = id.toUpperCase();
      const list = byId.get(key);
      if (list) list.push(r);
      else byId.set(key, [r]);
    }
  }
  return rows.map((r) => {
    // An advisory finding's NOT_APPLICABLE status can only come from a VEX statement (matchAdvisories).
    if (r.documentId !== null || !NOT_APPLICABLE.includes(r.status)) return r;
    const ids = new Set([r.vulnId, ...r.aliases].map((x) => x.toUpperCase()));
    const component = { name: r.package, purl: r.purl, version: r.installedVersion };
    const v = [...ids].flatMap((id) => byId.get(id) ?? []).find((x) => vexApplies(x, ids, component));
    return v ? { ...r, status: v.status, statusDetail: `VEX: ${v.statusDetail ?? v.status}` } : { ...r, status: "affected", statusDetail: null };
  });
}

/** A transaction client (one connection) rather than the pooled client: only the latter has $transaction. */
function isTransaction(client: Client): boolean {
  return typeof (client as { $transaction?: unknown }).$transaction !== "function";
}

/** Runs named reads: one after the other (`sequential`, on a transaction's one connection) or side by side. */
async function runReads<T extends Record<string, () => PromiseLike<unknown>>>(
  reads: T,
  sequential: boolean,
): Promise<{ [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const names = Object.keys(reads) as (keyof T)[];
  const values: unknown[] = [];
  if (sequential) for (const name of names) values.push(await reads[name]!());
  else values.push(...(await Promise.all(names.map((name) => reads[name]!()))));
  return Object.fromEntries(names.map((name, i) => [name, values[i]])) as { [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

/**
 * The scans the findings and scan-age gates judge. For an index, every platform needs a scan of its own (or of the
 * whole index), and its scan age is that of its least recently scanned platform (platform-scan-coverage.ts).
 */
function scanFacts(
  indexDigest: string,
  platformSubjects: readonly PlatformSubjects[],
  documents: readonly { kind: string; scannedAt: Date | null; uploadedAt: Date; firstSeenAt: Date | null; subjectDigest: string | null }[],
) {
  // A stated scan time is a claim: never later than when we first received the document's payload for its subject
  // (first-seen.ts), so uploading the same signed scan again in a new wrapper does not make it younger.
  const scans = documents
    .filter((d) => d.kind === "scan")
    .map((d) => {
      const received = d.firstSeenAt && d.firstSeenAt < d.uploadedAt ? d.firstSeenAt : d.uploadedAt;
      return { ...d, at: d.scannedAt && d.scannedAt < received ? d.scannedAt : received };
    });
  const newest = scans.reduce<Date | null>((acc, d) => (!acc || d.at > acc ? d.at : acc), null);
  if (!platformSubjects.length) return { scans, newestScanAt: newest, uncoveredPlatforms: [] as string[] };
  const coverage = platformScanCoverage(indexDigest, platformSubjects, scans);
  return { scans, newestScanAt: coverage.stalestAt, uncoveredPlatforms: coverage.uncovered };
}

/**
 * The image's counted provenance (not withdrawn, not marked not counted), each with its document's signature verdict
 * and, when signed, the builder ids its signing identity may vouch for now (null: unsigned, or the identity is gone).
 * One statement: the identity is joined by the name the verdict recorded (names are unique and never change; deleting
 * an identity voids what it signed, so a new identity of the same name does not inherit it).
 */
function provenanceWithSigners(client: Client, imageId: string, excluded: readonly string[]) {
  return client.$queryRaw<
    {
      builder_id: string | null;
      source_repo: string | null;
      signature_status: string;
      signed_by: string | null;
      signer_builder_ids: string[] | null;
      subject_digest: string | null;
    }[]
  >`
    SELECT p.builder_id, p.source_repo, d.signature_status, d.signed_by, t.builder_ids AS signer_builder_ids, d.subject_digest
    FROM provenance p
    JOIN evidence_documents d ON d.id = p.document_id
    LEFT JOIN trust_identities t ON d.signature_status = 'signed' AND t.name = d.signed_by
    WHERE p.image_id = ${imageId}::uuid AND d.withdrawn_at IS NULL AND d.not_counted IS NULL AND ${countedForRequestSql(excluded)}
    ORDER BY d.uploaded_at, d.id`;
}

/** The eight reads the gate facts are made of, for one image and stage (see gatherGateFacts). */
function readGateInputs(
  client: Client,
  {
    imageId,
    stageId,
    now,
    image,
    platforms,
    excluded,
  }: {
    imageId: string;
    stageId: string;
    now: Date;
    image: { digest: string; repositoryId: string };
    platforms: readonly Platform[] | null;
    /** The requester and approvers: their own unsigned evidence does not count (countedForRequestSql, discountedWhy). */
    excluded: readonly string[];
  },
) {
  // Withdrawn evidence no longer counts: not its findings, not its provenance, not its signature. Nor does evidence
  // marked not counted (unsigned registry evidence on a repository under evidence-uploader rules; may-attach-evidence.ts).
  const live = { withdrawnAt: null, notCounted: null };
  // Four eyes: nor, for this request, unsigned evidence its requester or an approver uploaded. The documents are all
  // read (to say which were left out and why, discountedWhy); provenance is filtered here, in SQL. Their findings are
  // kept: a finding can only make a gate stricter (the merge keeps the highest severity and the most cautious status),
  // and what one of them would suppress (a VEX statement) is judged again in rejudgeAdvisoryVex.
  // Eight independent reads. On the pool they run side by side; a transaction is one connection, where pg would queue
  // them (and warn: pg 9 refuses a query while another runs on the client), so there they run one after the other.
  return runReads(
    {
      // Advisory findings (no document) count too.
      // One more than the cap, to know when it was reached: the gates then fail closed (findingsTruncated).
      findingRows: () => client.finding.findMany({ where: { imageId, OR: [{ documentId: null }, { document: live }] }, take: MAX_GATE_FINDING_ROWS + 1 }),
      documents: () =>
        client.evidenceDocument.findMany({
          where: { imageId, ...live },
          select: {
            id: true,
            contentDigest: true,
            uploadedBy: true,
            kind: true,
            signatureStatus: true,
            signedBy: true,
            scannedAt: true,
            uploadedAt: true,
            firstSeenAt: true,
            uploaderId: true,
            subjectDigest: true,
          },
        }),
      provenanceRows: () => provenanceWithSigners(client, imageId, excluded),
      // Whether each stage is passed: decided in SQL (stage_decisions), read through the caller's transaction.
      decisions: () => readStageDecisions(client, { imageIds: [imageId] }),
      allWaivers: () => activeWaivers(client, { stageId, repositoryId: image.repositoryId, digest: image.digest, now }),
      base: () => findBaseImage(client, imageId),
      // Withdrawn ones included: withdrawing a provenance does not make its uploader any less the build's author.
      provenanceUploaders: () =>
        client.evidenceDocument.findMany({
          where: { imageId, kind: "provenance", uploaderId: { not: null } },
          select: { uploaderId: true },
          distinct: ["uploaderId"],
        }),
      // An index's platform images, for their config digests (a scan names a platform by its manifest or its config).
      children: () =>
        platforms
          ? client.image.findMany({ where: { repositoryId: image.repositoryId, parentDigest: image.digest }, select: { digest: true, configDigest: true } })
          : Promise.resolve([]),
    },
    isTransaction(client),
  );
}

type DocumentRow = Awaited<ReturnType<typeof readGateInputs>>["documents"][number];

/** The image's live documents that count for the request, and those that do not (four eyes), with why. */
function splitEvidence(documents: readonly DocumentRow[], requesterId: string | null, approvers: ReadonlySet<string>) {
  const counted: DocumentRow[] = [];
  const discountedEvidence: DiscountedEvidenceFact[] = [];
  for (const d of documents) {
    const why = discountedWhy(d, requesterId, approvers);
    if (why) discountedEvidence.push({ id: d.id, kind: d.kind, digest: d.contentDigest, uploadedBy: d.uploadedBy, why });
    else counted.push(d);
  }
  return { counted, discountedEvidence };
}

/**
 * Everything the gates of `stageId` judge about one image, read through `client` (a transaction when the
 * caller holds the request's row lock, so the judgement and the decision see the same state).
 */
export async function gatherGateFacts(
  client: Client,
  {
    imageId,
    stageId,
    now = new Date(),
    requesterId = null,
    approverIds = [],
  }: {
    imageId: string;
    stageId: string;
    now?: Date;
    /**
     * The account asking for (or about to ask for) the promotion. Four eyes, whatever the order: a waiver granted by
     * this account, or by an account that uploaded the build's provenance, does not count for the request, even when
     * it was granted before the request existed; nor does unsigned evidence this account uploaded (discountedWhy); nor
     * an advisory of the image this account, or the build's author, imported last (discountedAdvisories).
     */
    requesterId?: string | null;
    /**
     * The accounts approving the request (at review time, the reviewer and the approvals already counted; later, every
     * approval of the request). Four eyes: a waiver one of them granted does not count, or one person could make the
     * exception and approve with it, whatever the order; nor does unsigned evidence one of them uploaded, nor an
     * advisory of the image one of them imported last.
     */
    approverIds?: readonly string[];
  },
): Promise<GateFacts> {
  // Four eyes on evidence (discountedWhy): the requester's and the approvers' own unsigned uploads do not count.
  const approvers = new Set(approverIds);
  const excluded = [...new Set([...(requesterId ? [requesterId] : []), ...approvers])];
  const image = await client.image.findUniqueOrThrow({
    where: { id: imageId },
    select: { id: true, digest: true, repositoryId: true, platforms: true },
  });
  // Fail closed: an index whose platform list cannot be read cannot say which platforms its scans cover.
  const platforms = image.platforms === null ? null : readJson(imagePlatformsColumn, image.platforms, { table: "images", column: "platforms", id: imageId });
  const inputs = await readGateInputs(client, { imageId, stageId, now, image, platforms, excluded });
  const { findingRows, provenanceRows, decisions, allWaivers, base, provenanceUploaders, children } = inputs;
  const { counted: documents, discountedEvidence } = splitEvidence(inputs.documents, requesterId, approvers);
  const provenance = provenanceRows.map((p) => ({
    builderId: p.builder_id,
    sourceRepo: p.source_repo,
    signed: p.signature_status === "signed",
    signedBy: p.signed_by,
    signerBuilderIds: p.signer_builder_ids,
    subjectDigest: p.subject_digest,
  }));
  // The build's authors: whoever uploaded its provenance (the CI identity behind it).
  const builders = new Set(provenanceUploaders.map((d) => d.uploaderId!));
  const { waivers, discountedWaivers } = splitWaivers(allWaivers, requesterId, approvers, builders);
  // Who this request's findings gate checks, with why (the requester first, as splitWaivers names them).
  const checked = new Map<string, string>();
  for (const id of builders) checked.set(id, "who uploaded this build's provenance");
  for (const id of approvers) checked.set(id, "who approves this promotion");
  if (requesterId) checked.set(requesterId, "who requested this promotion");
  const ownAdvisories = await discountedAdvisories(client, imageId, checked);
  // Past the cap the rows read are an arbitrary subset: a critical finding may be among those left out, so the findings
  // gate cannot judge the image and refuses it (a flood of low findings must not hide one that counts).
  const findingsTruncated = findingRows.length > MAX_GATE_FINDING_ROWS;
  const vexDocuments = new Set(documents.filter((d) => d.kind === "vex").map((d) => d.id));
  // A discounted document's findings still count (they can only add), but not its aliases: a finding is merged with
  // every other that shares an id or alias with it, and a merged finding counts once under one id, so a requester's
  // own scan listing CVE-A with the alias CVE-B merged two counted findings into one (a high fewer under the limit),
  // or a critical GHSA into a low CVE that a waiver covers. Without aliases, its row joins at most one finding.
  const discounted = new Set(discountedEvidence.map((d) => d.id));
  const ownIdsOnly = (r: FindingRow): FindingRow => (r.documentId !== null && discounted.has(r.documentId) && r.aliases.length ? { ...r, aliases: [] } : r);
  const rows = rejudgeAdvisoryVex(findingRows.slice(0, MAX_GATE_FINDING_ROWS).map(ownIdsOnly), vexDocuments);
  const merged = mergeFindingRows(rows).filter((f) => !NOT_APPLICABLE.includes(f.status));
  const platformSubjects = platforms ? indexPlatformSubjects(platforms, children) : [];
  const { scans, newestScanAt, uncoveredPlatforms } = scanFacts(image.digest, platformSubjects, documents);
  const index = platformSubjects.length
    ? { digest: image.digest, platforms: platformSubjects.map((p) => ({ name: p.name, digests: [...p.digests] })) }
    : undefined;
  const sboms = documents.filter((d) => d.kind === "sbom");
  const { statuses, stageIds } = decisions.get(imageId)!;
  const idx = stageIds.indexOf(stageId);
  const prev = idx > 0 ? statuses[idx - 1]! : null;
  return {
    now,
    findings: merged.map((f) => ({ vulnId: f.id, severity: f.severity, fixAvailable: f.fixAvailable, package: f.package })),
    ...(findingsTruncated ? { findingsTruncated: { limit: MAX_GATE_FINDING_ROWS } } : {}),
    scanCount: scans.length,
    newestScanAt,
    uncoveredPlatforms,
    sbomCount: sboms.length,
    sbomUncoveredPlatforms: uncoveredBy(
      index,
      sboms.map((d) => d.subjectDigest),
    ),
    ...(index ? { index } : {}),
    provenance,
    evidence: documents.map((d) => ({ kind: d.kind, signatureStatus: d.signatureStatus, signedBy: d.signedBy })),
    previousStage: prev ? { name: prev.stage, state: prev.state, detail: prev.detail } : null,
    base,
    waivers,
    discountedWaivers,
    discountedEvidence,
    ...(ownAdvisories.length ? { discountedAdvisories: ownAdvisories } : {}),
  };
}
