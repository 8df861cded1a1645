import "server-only";
import { db, bytes as dbBytes } from "../../db";
import { AppError } from "../../errors";
import { EvidenceError, parseEvidence, type ParsedEvidence } from "../../evidence/detect";
import { sha256Digest } from "../../oci/digest";
import type { Platform } from "../../oci/manifest";
import { verifyRaw } from "../../signing/keys";
import { actorLabel, requireRole, type Actor } from "../actor";
import { appendAuditEvent } from "../audit/append-audit-event";
import { loadTrustedKeys } from "../keys/load-trusted-keys";
import { rematchImageAdvisories } from "../advisories/rematch-image-advisories";
import { requestReevaluation } from "../reevaluation/enqueue-reevaluation";

export interface IngestEvidenceOptions {
  actor: Actor;
  imageId: string;
  bytes: Buffer;
  source: "upload" | "registry";
  artifactDigest?: string | null;
}

const CHUNK = 5000;

/** pkg:type/namespace/name, without version, qualifiers or subpath: the fleet search key. */
export function purlKey(purl: string | undefined | null): string | null {
  if (!purl?.startsWith("pkg:")) return null;
  const noSub = purl.split("#")[0]!.split("?")[0]!;
  const at = noSub.lastIndexOf("@");
  const base = at > noSub.indexOf("/") ? noSub.slice(0, at) : noSub;
  try {
    return decodeURIComponent(base).toLowerCase();
  } catch {
    return base.toLowerCase();
  }
}

function parseDate(s: string | undefined | null): Date | null {
  if (!s) return null;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** The digests a document may name and still be about this image: manifest, config, platforms, parent index. */
async function acceptableSubjects(imageId: string) {
  const img = await db.image.findUniqueOrThrow({ where: { id: imageId }, select: { digest: true, configDigest: true, platforms: true, parentDigest: true, repositoryId: true } });
  const ok = new Set<string>([img.digest]);
  if (img.configDigest) ok.add(img.configDigest);
  for (const p of (img.platforms as Platform[] | null) ?? []) ok.add(p.digest);
  if (img.parentDigest) ok.add(img.parentDigest);
  // Platform manifests' configs (Trivy's ImageID of a platform image scanned through its index).
  const children = await db.image.findMany({ where: { repositoryId: img.repositoryId, parentDigest: img.digest }, select: { configDigest: true } });
  for (const c of children) if (c.configDigest) ok.add(c.configDigest);
  return { image: img, ok };
}

type Verdict = { status: "signed" | "unsigned" | "invalid"; by: string | null; detail: string };

async function envelopeVerdict(dsse: NonNullable<ParsedEvidence["dsse"]>, keys: Awaited<ReturnType<typeof loadTrustedKeys>>): Promise<Verdict> {
  const sigs = dsse.signatures.filter((s) => s.sig.length > 0);
  if (!sigs.length) return { status: "unsigned", by: null, detail: "the DSSE envelope carries no signature" };
  for (const s of sigs) {
    for (const k of keys) {
      if (verifyRaw(k.key, dsse.pae, s.sig)) return { status: "signed", by: k.name, detail: `DSSE signature verified by trusted key "${k.name}" (${k.fingerprint})` };
    }
  }
  return { status: "invalid", by: null, detail: `${sigs.length} DSSE signature(s), none verified by a trusted key: an unknown key and a tampered document look the same` };
}

/**
 * A DSSE envelope's signatures are checked against every trusted key (outside keys and stage keys). For JSON
 * Lines with several envelopes, each is checked: any invalid one makes the document invalid, and it counts as
 * signed only when every envelope is.
 */
async function dsseVerdict(parsed: ParsedEvidence, repository: string): Promise<Verdict> {
  const envelopes = parsed.dsse ? [parsed.dsse] : (parsed.parts ?? []).map((p) => p.dsse).filter((d): d is NonNullable<typeof d> => Boolean(d));
  if (!envelopes.length) return { status: "unsigned", by: null, detail: "not a signed envelope" };
  const keys = await loadTrustedKeys({ repository });
  const verdicts = await Promise.all(envelopes.map((e) => envelopeVerdict(e, keys)));
  if (verdicts.length === 1) return verdicts[0]!;
  const invalid = verdicts.filter((v) => v.status === "invalid").length;
  const signed = verdicts.filter((v) => v.status === "signed");
  if (invalid) return { status: "invalid", by: null, detail: `${invalid} of ${verdicts.length} envelopes carry signatures no trusted key verifies` };
  if (signed.length === verdicts.length) return { status: "signed", by: [...new Set(signed.map((v) => v.by))].join(", "), detail: `all ${verdicts.length} envelopes verified` };
  return { status: "unsigned", by: null, detail: `${signed.length} of ${verdicts.length} envelopes signed by a trusted key` };
}

/**
 * Stores one evidence document for an image: the original bytes, the normalized components, findings and
 * provenance, and its signature verdict, with its audit event, in one transaction (nothing partial). The
 * same content for the same image twice is a no-op. A document that names a subject must name this image.
 */
export async function ingestEvidence({ actor, imageId, bytes, source, artifactDigest = null }: IngestEvidenceOptions) {
  if (source === "upload") requireRole(actor, ["admin", "developer", "reviewer"], "uploading evidence");
  const contentDigest = sha256Digest(bytes);
  const existing = await db.evidenceDocument.findUnique({ where: { imageId_contentDigest: { imageId, contentDigest } }, omit: { raw: true } });
  if (existing) return { document: existing, created: false };

  let parsed: ParsedEvidence;
  try {
    parsed = parseEvidence(bytes);
  } catch (e) {
    if (e instanceof EvidenceError) throw new AppError(e.code === "MALFORMED_JSON" ? "BAD_REQUEST" : "INVALID_INPUT", e.message, "body");
    throw e;
  }
  const { image, ok } = await acceptableSubjects(imageId);
  const named = parsed.subjects.map((s) => s.digest).filter((d): d is string => Boolean(d));
  const matched = named.find((d) => ok.has(d)) ?? null;
  if (named.length && !matched) {
    throw new AppError("INVALID_INPUT", `the document names ${[...new Set(named)].slice(0, 3).join(", ")}, which is not this image (manifest ${image.digest}${image.configDigest ? `, config ${image.configDigest}` : ""})`, "subject");
  }
  const repo = await db.repository.findUniqueOrThrow({ where: { id: image.repositoryId }, select: { name: true } });
  const sig = await dsseVerdict(parsed, repo.name);
  const uploaderId = actor.kind === "user" ? actor.id : null;

  const doc = await db.$transaction(
    async (tx) => {
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
          scannedAt: parseDate(parsed.scannedAt),
          toolName: parsed.tool?.name ?? null,
          toolVersion: parsed.tool?.version ?? null,
          subjectDigest: matched,
          signatureStatus: sig.status,
          signedBy: sig.by,
          signatureDetail: sig.detail,
          size: bytes.byteLength,
          raw: dbBytes(bytes),
          componentCount: parsed.components.length,
          findingCount: parsed.findings.length,
        },
        omit: { raw: true },
      });
      // One INSERT … SELECT FROM unnest(arrays) per chunk: an order of magnitude faster than row-wise
      // parameters for SBOMs of 10,000+ components. Licenses travel as JSON text per row.
      for (let i = 0; i < parsed.components.length; i += CHUNK) {
        const chunk = parsed.components.slice(i, i + CHUNK);
        await tx.$executeRaw`
          INSERT INTO components (id, document_id, image_id, name, name_key, version, purl, purl_key, type, ecosystem, licenses, layer)
          SELECT gen_random_uuid(), ${doc.id}::uuid, ${imageId}::uuid, u.name, lower(u.name), u.version, u.purl, u.purl_key, u.type, u.ecosystem,
                 ARRAY(SELECT jsonb_array_elements_text(u.licenses::jsonb)), u.layer
          FROM unnest(${chunk.map((c) => c.name)}::text[], ${chunk.map((c) => c.version ?? null)}::text[], ${chunk.map((c) => c.purl ?? null)}::text[],
                      ${chunk.map((c) => purlKey(c.purl))}::text[], ${chunk.map((c) => c.type ?? null)}::text[], ${chunk.map((c) => c.ecosystem ?? null)}::text[],
                      ${chunk.map((c) => JSON.stringify(c.licenses))}::text[], ${chunk.map((c) => c.layer ?? null)}::text[])
            AS u(name, version, purl, purl_key, type, ecosystem, licenses, layer)`;
      }
      for (let i = 0; i < parsed.findings.length; i += CHUNK) {
        await tx.finding.createMany({
          data: parsed.findings.slice(i, i + CHUNK).map((f) => ({
            documentId: doc.id,
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
      if (parsed.provenance) {
        const p = parsed.provenance;
        await tx.provenance.create({
          data: {
            documentId: doc.id,
            imageId,
            predicateType: p.predicateType,
            builderId: p.builderId ?? null,
            buildType: p.buildType ?? null,
            sourceRepo: p.sourceRepo ?? null,
            sourceCommit: p.sourceCommit ?? null,
            entryPoint: p.entryPoint ?? p.workflow ?? null,
            materials: p.materials as object,
            startedOn: parseDate(p.startedOn),
            finishedOn: parseDate(p.finishedOn),
          },
        });
      }
      // Imported advisories concern new components at once, and a new VEX statement applies to their findings.
      const advisoryMatches = parsed.components.length || parsed.kind === "vex" ? await rematchImageAdvisories(tx, { imageId }) : null;
      // New evidence can change any approved stage's verdict: judge this image again (re-evaluation worker).
      await requestReevaluation(tx, { trigger: "evidence", imageIds: [imageId] });
      await appendAuditEvent(tx, {
        actor,
        action: source === "upload" ? "evidence.upload" : "evidence.discover",
        targetDigest: image.digest,
        detail: { documentId: doc.id, contentDigest, format: parsed.format, kind: parsed.kind, components: parsed.components.length, findings: parsed.findings.length, signature: sig.status, signedBy: sig.by, artifactDigest, ...(advisoryMatches?.findings ? { advisoryFindings: advisoryMatches.findings } : {}) },
      });
      return doc;
    },
    { timeout: 300_000, maxWait: 30_000 },
  );
  return { document: doc, created: true };
}
