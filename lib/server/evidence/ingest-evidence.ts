import "server-only";
import { wellFormedJson } from "../../well-formed-json";
import { assertNoNul, assertStorableDocument } from "../http/hostile-input";
import { db, bytes as dbBytes, IN_TRANSACTION_BLOCK, type Tx, type TxConnection } from "../../db";
import { AppError } from "../../errors";
import { EvidenceError, parseEvidenceStatements, type Component, type EvidenceStatement, type ParsedEvidence } from "../../evidence/detect";
import { sha256Digest } from "../../oci/digest";
import { firstSeenAt, payloadDigest } from "./first-seen";
import { verifyRaw } from "../../signing/keys/software";
import { actorLabel, requireRole, type Actor } from "../actor";
import { appendAuditEvents, type AuditEventInput } from "../audit/append-audit-event";
import { loadTrustedKeys } from "../keys/load-trusted-keys";
import type { IdentityRole } from "../../signing/trust/identities";
import { assertMayAttachEvidence, matchingUploaderRules, registryNotCounted } from "./may-attach-evidence";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { ownSummaryVerdicts } from "./own-summary-verdict";
import { concurrentlyStoredDocument } from "./concurrent-duplicate";
import { normalizePurl, purlSearchKey } from "../../evidence/purl";
import { indexDocumentPackages } from "./package-index";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";
import { imagePlatformsColumn, jsonColumn, provenanceMaterialsColumn, readJson } from "../json-columns";

export interface IngestEvidenceOptions {
  actor: Actor;
  imageId: string;
  bytes: Buffer;
  source: "upload" | "registry";
  artifactDigest?: string | null;
}

const CHUNK = 5000;

/**
 * pkg:type/namespace/name of the normalised purl, without version, qualifiers or subpath, lower-cased: the fleet
 * search key (`pkg:alpine/busybox` and `pkg:APK/alpine/BusyBox` give the same). Null when it is not a purl.
 */
export function purlKey(purl: string | undefined | null): string | null {
  return purlSearchKey(purl);
}

export function parseDate(s: string | undefined | null): Date | null {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The digests a document may name and still be about this image: manifest, config, platforms, parent index. */
export async function acceptableSubjects(imageId: string) {
  const img = await db.image.findUniqueOrThrow({
    where: { id: imageId },
    select: { digest: true, configDigest: true, platforms: true, parentDigest: true, repositoryId: true },
  });
  const ok = new Set<string>([img.digest]);
  if (img.configDigest) ok.add(img.configDigest);
  // An index's platform manifests and their configs: a document naming one is about that platform only.
  const platformSpecific = new Set<string>();
  // Fail closed: which digests a document may name is decided here; an unreadable list is an error, not "none".
  for (const p of img.platforms === null ? [] : readJson(imagePlatformsColumn, img.platforms, { table: "images", column: "platforms", id: imageId }))
    platformSpecific.add(p.digest);
  if (img.parentDigest) ok.add(img.parentDigest);
  // Platform manifests' configs (Trivy's ImageID of a platform image scanned through its index).
  const children = await db.image.findMany({ where: { repositoryId: img.repositoryId, parentDigest: img.digest }, select: { configDigest: true } });
  for (const c of children) if (c.configDigest) platformSpecific.add(c.configDigest);
  for (const d of platformSpecific) ok.add(d);
  return { image: img, ok, platformSpecific };
}

export type Verdict = { status: "signed" | "unsigned" | "invalid"; by: string | null; detail: string };
type Keys = Awaited<ReturnType<typeof loadTrustedKeys>>;

/**
 * The trust role that may sign a statement of this kind: provenance is signed by a builder, everything else
 * (scans, SBOMs, VEX, other attestations) by a scanner. A publisher, team or stage key never makes evidence signed.
 */
export function evidenceSignerRole(kind: string): IdentityRole {
  return kind === "provenance" ? "builder" : "scanner";
}

function envelopeVerdict(dsse: NonNullable<ParsedEvidence["dsse"]>, keys: Keys, role: IdentityRole, repository: string): Verdict {
  const sigs = dsse.signatures.filter((s) => s.sig.length > 0);
  if (!sigs.length) return { status: "unsigned", by: null, detail: "the DSSE envelope carries no signature" };
  for (const s of sigs) {
    for (const k of keys) {
      if (verifyRaw(k.key, dsse.pae, s.sig))
        return { status: "signed", by: k.name, detail: `DSSE signature verified by trusted ${role} key "${k.name}" (${k.fingerprint}) for ${repository}` };
    }
  }
  return {
    status: "invalid",
    by: null,
    detail: `${sigs.length} DSSE signature(s), none verified by a key trusted as ${role} for ${repository}: an unknown key, a key of another role and a tampered document look the same`,
  };
}

/** One statement's verdict, on its own: only its own envelope, and only keys of the role its kind needs. */
export function statementVerdict(st: Pick<EvidenceStatement, "evidence">, keysByRole: Map<IdentityRole, Keys>, repository: string): Verdict {
  const role = evidenceSignerRole(st.evidence.kind);
  if (!st.evidence.dsse)
    return { status: "unsigned", by: null, detail: `not a signed envelope (a ${st.evidence.kind} needs a DSSE signature by a ${role} key to count as signed)` };
  return envelopeVerdict(st.evidence.dsse, keysByRole.get(role) ?? [], role, repository);
}

export interface IngestEvidenceResult {
  /** The first statement's document (the only one for a plain JSON upload). */
  document: Awaited<ReturnType<typeof storeStatement>>["document"];
  /** One document per statement: a JSON Lines upload is stored line by line, each judged on its own. */
  documents: Awaited<ReturnType<typeof storeStatement>>["document"][];
  created: boolean;
}

/**
 * Stores evidence for an image. Every statement of the upload (the document, or each line of JSON Lines) is judged
 * and stored on its own: its own bytes and content digest, its own subject check, its own signature verdict (by a
 * key trusted in the role its kind needs, for this repository), its own normalized rows. One signed line never
 * vouches for another, and a provenance statement is always filed as provenance. All statements are stored in one
 * transaction with their audit events (nothing partial). The same content for the same image twice is a no-op.
 * A stated scan time in the future is clamped to the upload time, so a scan-age gate cannot be defeated.
 */
export async function ingestEvidence({ actor, imageId, bytes, source, artifactDigest = null }: IngestEvidenceOptions): Promise<IngestEvidenceResult> {
  if (source === "upload") requireRole(actor, ["admin", "developer", "reviewer"], "uploading evidence");
  const { image, ok, platformSpecific } = await acceptableSubjects(imageId);
  const repo = await db.repository.findUniqueOrThrow({ where: { id: image.repositoryId }, select: { name: true } });
  if (source === "upload") await assertMayAttachEvidence({ actor, repository: repo.name });
  const contentDigest = sha256Digest(bytes);
  const existing = await db.evidenceDocument.findUnique({ where: { imageId_contentDigest: { imageId, contentDigest } }, omit: { raw: true } });
  if (existing) return { document: existing, documents: [existing], created: false };

  assertStorableDocument(bytes);
  let statements: EvidenceStatement[];
  try {
    statements = await parseEvidenceStatements(bytes);
  } catch (e) {
    if (e instanceof EvidenceError) throw new AppError(e.code === "MALFORMED_JSON" ? "BAD_REQUEST" : "INVALID_INPUT", e.message, "body");
    throw e;
  }
  // Strings decoded from inside the document (a DSSE payload is base64) reach text columns too.
  for (const st of statements) assertNoNul(st.evidence);
  const several = statements.length > 1;
  const where = (st: EvidenceStatement) => (several ? `line ${st.line ?? "?"}: ` : "");
  // Each statement that names a subject must name this image: one line about this image does not carry another.
  const matched = statements.map((st) => {
    const named = st.evidence.subjects.map((s) => s.digest).filter((d): d is string => Boolean(d));
    // The most specific subject is recorded: a scan naming an index and one platform's config covers that platform only.
    const m = named.find((d) => platformSpecific.has(d)) ?? named.find((d) => ok.has(d)) ?? null;
    if (named.length && !m) {
      throw new AppError(
        "INVALID_INPUT",
        `${where(st)}the document names ${[...new Set(named)].slice(0, 3).join(", ")}, which is not this image (manifest ${image.digest}${image.configDigest ? `, config ${image.configDigest}` : ""})`,
        "subject",
      );
    }
    return m;
  });
  const roles = [...new Set(statements.map((st) => evidenceSignerRole(st.evidence.kind)))];
  const keysByRole = new Map<IdentityRole, Keys>();
  for (const role of roles) keysByRole.set(role, await loadTrustedKeys({ repository: repo.name, roles: [role] }));
  // The server's own verification summaries, read back by the sync, are judged as what they are.
  const own = await ownSummaryVerdicts(imageId, statements);
  const verdicts = statements.map((st, i) => own[i] ?? statementVerdict(st, keysByRole, repo.name));
  const now = new Date();

  const stored = await storeStatements({
    actor,
    imageId,
    image,
    repository: repo.name,
    statements,
    matched,
    verdicts,
    source,
    artifactDigest,
    now,
    contentDigest,
  }).catch(async (e: unknown) => {
    // An identical upload committed first while this one was being judged: every statement is stored; say so (200), not 409.
    const docs = await Promise.all(statements.map((st) => concurrentlyStoredDocument(e, { imageId, contentDigest: sha256Digest(st.bytes) })));
    if (docs.every((d) => d !== null)) return docs.map((document) => ({ document: document!, created: false }));
    throw e;
  });
  return { document: stored[0]!.document, documents: stored.map((s) => s.document), created: stored.some((s) => s.created) };
}

/**
 * Whether evidence-uploader rules cover the repository, read in the storing transaction under the rules' lock (shared):
 * registry evidence has no uploader to hold to the rules, so on a covered repository only a trusted signature counts,
 * and a rules change (set-evidence-uploaders.ts, exclusive) recounts every document stored before it.
 */
export async function registryRulesCover(tx: Tx, repository: string): Promise<boolean> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock_shared(${ADVISORY_LOCKS.evidenceUploaderRules}::int, 0)`;
  return (await matchingUploaderRules(tx, repository)).length > 0;
}

/** Every statement of one upload, with the re-match and the re-evaluation request, in one transaction. */
function storeStatements({
  actor,
  imageId,
  image,
  statements,
  repository,
  matched,
  verdicts,
  source,
  artifactDigest,
  now,
  contentDigest,
}: {
  actor: Actor;
  imageId: string;
  image: { digest: string };
  statements: EvidenceStatement[];
  matched: (string | null)[];
  repository: string;
  verdicts: Verdict[];
  source: "upload" | "registry";
  artifactDigest: string | null;
  now: Date;
  contentDigest: string;
}) {
  const several = statements.length > 1;
  return db.$transaction(
    async (tx) => {
      const out: { document: Awaited<ReturnType<typeof storeStatement>>["document"]; created: boolean }[] = [];
      const audits: AuditEventInput[] = [];
      const covered = source === "registry" && (await registryRulesCover(tx, repository));
      for (let i = 0; i < statements.length; i++) {
        const { audit, ...stored } = await storeStatement(tx, {
          actor,
          imageId,
          imageDigest: image.digest,
          statement: statements[i]!,
          subjectDigest: matched[i] ?? null,
          sig: verdicts[i]!,
          notCounted: registryNotCounted(source, verdicts[i]!.status, covered),
          source,
          artifactDigest,
          now,
          upload: several ? { contentDigest, statements: statements.length } : null,
        });
        out.push(stored);
        if (audit) audits.push(audit);
      }
      // Imported advisories concern new components at once, and a new VEX statement applies to their findings.
      if (statements.some((st) => st.evidence.components.length > 0 || st.evidence.kind === "vex")) await rematchImageAdvisories(tx, { imageId });
      // New evidence can change any approved stage's verdict: judge this image again (re-evaluation worker).
      await requestReevaluation(tx, { trigger: "evidence", imageIds: [imageId] });
      // Last, all at once: the first append takes the audit chain's lock, which every audited write of every replica
      // waits for, until this transaction ends. Appended per statement, a JSON Lines upload held it while it stored
      // all of its lines (found by review: 20,000 lines held sign-ins and approvals for a minute).
      await appendAuditEvents(tx, audits);
      return out;
    },
    { timeout: 300_000, maxWait: 30_000 },
  );
}

interface StoreStatementOptions {
  actor: Actor;
  imageId: string;
  imageDigest: string;
  statement: EvidenceStatement;
  subjectDigest: string | null;
  sig: Verdict;
  /** Why the statement does not count in gates and advisory matching (registryNotCounted); null: it counts. */
  notCounted: string | null;
  source: "upload" | "registry";
  artifactDigest: string | null;
  now: Date;
  /** Set for a statement of a multi-statement upload: the upload's own digest and size, for the audit trail. */
  upload: { contentDigest: string; statements: number } | null;
}

/** A document's findings, in batches (both the buffered and the streamed ingest). */
export async function insertFindings(tx: Tx, { documentId, imageId, findings }: { documentId: string; imageId: string; findings: ParsedEvidence["findings"] }) {
  for (let i = 0; i < findings.length; i += CHUNK) {
    await tx.finding.createMany({
      data: findings.slice(i, i + CHUNK).map((f) => ({
        documentId,
        imageId,
        vulnId: f.id,
        aliases: f.aliases,
        severity: f.severity,
        cvssScore: f.cvss?.score ?? null,
        cvssVector: f.cvss?.vector ?? null,
        package: f.package,
        purl: f.purl ?? null,
        installedVersion: f.installedVersion ?? null,
        fixedVersion: f.fixedVersion ?? null,
        fixAvailable: f.fixAvailable,
        status: f.status,
        statusDetail: f.statusDetail ?? null,
        source: f.source,
        title: f.title ?? null,
      })),
    });
  }
}

/** The provenance row of an attestation: who built the image, from what source, with which materials. */
async function storeProvenance(tx: Tx, documentId: string, imageId: string, p: NonNullable<StoreStatementOptions["statement"]["evidence"]["provenance"]>) {
  await tx.provenance.create({
    data: {
      documentId,
      imageId,
      predicateType: p.predicateType,
      builderId: p.builderId ?? null,
      buildType: p.buildType ?? null,
      sourceRepo: p.sourceRepo ?? null,
      sourceCommit: p.sourceCommit ?? null,
      entryPoint: p.entryPoint ?? p.workflow ?? null,
      materials: jsonColumn(provenanceMaterialsColumn, p.materials),
      startedOn: parseDate(p.startedOn),
      finishedOn: parseDate(p.finishedOn),
    },
  });
}

async function storeStatement(
  tx: Tx,
  { actor, imageId, imageDigest, statement, subjectDigest, sig, notCounted, source, artifactDigest, now, upload }: StoreStatementOptions,
) {
  const parsed = statement.evidence;
  const bytes = statement.bytes;
  const contentDigest = sha256Digest(bytes);
  const existing = await tx.evidenceDocument.findUnique({ where: { imageId_contentDigest: { imageId, contentDigest } }, omit: { raw: true } });
  if (existing) return { document: existing, created: false, audit: null };
  const stated = parseDate(parsed.scannedAt);
  // A stated time is a claim: one in the future would keep a scan "fresh" forever. It is clamped to the upload time.
  const clamped = stated !== null && stated.getTime() > now.getTime();
  const scannedAt = clamped ? now : stated;
  const uploaderId = actor.kind === "user" ? actor.id : null;
  const payload = payloadDigest(statement);
  const firstSeen = await firstSeenAt(tx, { kind: parsed.kind, payloadDigest: payload, subjectDigest, imageDigest, now });
  const doc = await tx.evidenceDocument.create({
    data: {
      imageId,
      contentDigest,
      format: parsed.format,
      kind: parsed.kind,
      predicateType: parsed.provenance?.predicateType ?? parsed.predicateType ?? null,
      source,
      artifactDigest,
      uploadedBy: actorLabel(actor),
      uploaderId,
      uploadedAt: now,
      scannedAt,
      toolName: parsed.tool?.name ?? null,
      toolVersion: parsed.tool?.version ?? null,
      subjectDigest,
      signatureStatus: sig.status,
      signedBy: sig.by,
      signatureDetail: sig.detail,
      notCounted,
      size: bytes.byteLength,
      raw: dbBytes(bytes),
      componentCount: parsed.components.length,
      findingCount: parsed.findings.length,
      payloadDigest: payload,
      firstSeenAt: firstSeen,
    },
    omit: { raw: true },
  });
  for (let i = 0; i < parsed.components.length; i += CHUNK)
    await insertComponents(tx, { documentId: doc.id, imageId, components: parsed.components.slice(i, i + CHUNK) });
  if (parsed.components.length) await indexDocumentPackages(tx, { documentId: doc.id, imageId });
  await insertFindings(tx, { documentId: doc.id, imageId, findings: parsed.findings });
  if (parsed.provenance) await storeProvenance(tx, doc.id, imageId, parsed.provenance);
  const audit: AuditEventInput = {
    actor,
    action: source === "upload" ? "evidence.upload" : "evidence.discover",
    targetDigest: imageDigest,
    detail: {
      documentId: doc.id,
      contentDigest,
      format: parsed.format,
      kind: parsed.kind,
      components: parsed.components.length,
      findings: parsed.findings.length,
      signature: sig.status,
      signedBy: sig.by,
      artifactDigest,
      ...(notCounted ? { notCounted } : {}),
      ...(clamped ? { statedScanTime: parsed.scannedAt, scanTimeClampedTo: now.toISOString() } : {}),
      ...(firstSeen < now ? { payloadDigest: payload, payloadFirstSeenAt: firstSeen.toISOString() } : {}),
      ...(upload ? { upload: upload.contentDigest, line: statement.line ?? null, statements: upload.statements } : {}),
    },
  };
  return { document: doc, created: true, audit };
}

/**
 * One INSERT … SELECT FROM unnest(arrays) for a batch of components: an order of magnitude faster than row-wise
 * parameters for SBOMs of 10,000+ components. Licenses travel as JSON text per row. Shared by the buffered and the
 * streamed (issue 17) ingest, so both store the same rows for the same document. With `conn` (the transaction's own
 * connection, txConnection) the eight arrays go to `pg` directly instead of through Prisma's JSON round trip.
 */
export async function insertComponents(
  tx: Tx,
  { documentId, imageId, components: chunk, conn }: { documentId: string; imageId: string; components: readonly Component[]; conn?: TxConnection | null },
): Promise<void> {
  if (!chunk.length) return;
  // One spelling per purl (the search key and the stored purl); a purl that does not parse is kept as given.
  const purls = chunk.map((c) => (c.purl ? (normalizePurl(c.purl) ?? c.purl) : null));
  const columns = [
    chunk.map((c) => c.name),
    chunk.map((c) => c.version ?? null),
    purls,
    purls.map((p) => purlSearchKey(p)),
    chunk.map((c) => c.type ?? null),
    chunk.map((c) => c.ecosystem ?? null),
    chunk.map((c) => wellFormedJson(c.licenses)),
    chunk.map((c) => c.layer ?? null),
  ] as const;
  if (conn) {
    if ((await conn.query(INSERT_COMPONENTS_SQL, [documentId, imageId, ...columns])) !== chunk.length) throw outsideTransaction();
    return;
  }
  const [names, versions, , keys, types, ecosystems, licenses, layers] = columns;
  await tx.$executeRaw`
      INSERT INTO components (id, document_id, image_id, name, name_key, version, purl, purl_key, type, ecosystem, licenses, layer)
      SELECT gen_random_uuid(), ${documentId}::uuid, ${imageId}::uuid, u.name, lower(u.name), u.version, u.purl, u.purl_key, u.type, u.ecosystem,
             ARRAY(SELECT jsonb_array_elements_text(u.licenses::jsonb)), u.layer
      FROM unnest(${names}::text[], ${versions}::text[], ${purls}::text[], ${keys}::text[], ${types}::text[], ${ecosystems}::text[],
                  ${licenses}::text[], ${layers}::text[])
        AS u(name, version, purl, purl_key, type, ecosystem, licenses, layer)`;
}

/** The same statement as insertComponents' Prisma one, with numbered parameters for a `pg` connection. */
const INSERT_COMPONENTS_SQL = `
  INSERT INTO components (id, document_id, image_id, name, name_key, version, purl, purl_key, type, ecosystem, licenses, layer)
  SELECT gen_random_uuid(), $1::uuid, $2::uuid, u.name, lower(u.name), u.version, u.purl, u.purl_key, u.type, u.ecosystem,
         ARRAY(SELECT jsonb_array_elements_text(u.licenses::jsonb)), u.layer
  FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
    AS u(name, version, purl, purl_key, type, ecosystem, licenses, layer)
  WHERE ${IN_TRANSACTION_BLOCK}`;

/** A statement sent on the transaction's connection that found itself outside the transaction (it wrote nothing). */
export function outsideTransaction(): Error {
  return new Error("the transaction ended (timed out or rolled back) before a streamed write ran; nothing was stored");
}
