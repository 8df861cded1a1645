import "server-only";
import { z } from "zod";
import { db, Prisma } from "../../db";
import { AppError } from "../../errors";
import { mergeFindings } from "../../evidence/model";
import type { Finding } from "../../evidence/model";
import type { Actor } from "../actor";
import { provenanceMaterialsColumn, readDisplayJson } from "../json-columns";

export const SEVERITIES = ["critical", "high", "medium", "low", "negligible", "unknown"] as const;
export type Severity = (typeof SEVERITIES)[number];
/** VEX states that mean "this finding does not apply". */
export const NOT_APPLICABLE = ["not_affected", "fixed", "false_positive"];

export const evidenceQuery = z.object({
  severity: z.enum(SEVERITIES).optional(),
  fix: z.enum(["any", "available", "none"]).default("any"),
  vq: z.string().max(200).optional(),
  vsort: z.enum(["severity", "cvss", "package", "id"]).default("severity"),
  cq: z.string().max(200).optional(),
  cpage: z.coerce.number().int().min(1).max(100_000).default(1),
});
export type EvidenceQuery = z.infer<typeof evidenceQuery>;

export function parseEvidenceQuery(obj: Record<string, string | undefined>): EvidenceQuery {
  const r = evidenceQuery.safeParse(Object.fromEntries(Object.entries(obj).filter(([, v]) => v)));
  if (!r.success) throw new AppError("INVALID_INPUT", r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
  return r.data;
}

const sevRank = (s: string) => (SEVERITIES.indexOf(s as Severity) === -1 ? 99 : SEVERITIES.indexOf(s as Severity));

type FindingRow = Awaited<ReturnType<typeof db.finding.findMany>>[number];

/** Stored finding rows of one image (from any number of scans and VEX documents), merged across scanners. */
export function mergeFindingRows(rows: readonly FindingRow[]) {
  const byDoc = new Map<string, Finding[]>();
  for (const r of rows) {
    // Findings from an imported advisory have no document: each advisory counts as one list, like a scanner.
    const key = r.documentId ?? `advisory:${r.advisoryId ?? ""}`;
    const list = byDoc.get(key) ?? [];
    list.push({
      id: r.vulnId,
      aliases: r.aliases,
      severity: r.severity as Finding["severity"],
      ...(r.cvssScore !== null ? { cvss: { score: r.cvssScore, ...(r.cvssVector ? { vector: r.cvssVector } : {}) } } : {}),
      package: r.package,
      ...(r.purl ? { purl: r.purl } : {}),
      ...(r.installedVersion ? { installedVersion: r.installedVersion } : {}),
      ...(r.fixedVersion ? { fixedVersion: r.fixedVersion } : {}),
      fixAvailable: r.fixAvailable,
      status: r.status as Finding["status"],
      ...(r.statusDetail ? { statusDetail: r.statusDetail } : {}),
      source: r.source,
      ...(r.title ? { title: r.title } : {}),
    });
    byDoc.set(key, list);
  }
  return mergeFindings([...byDoc.values()]);
}

/** The findings list as the filters and the sort order ask. */
function vulnerabilityList(merged: ReturnType<typeof mergeFindingRows>, query: EvidenceQuery) {
  const q = query.vq?.toLowerCase();
  return merged
    .filter((f) => !query.severity || f.severity === query.severity)
    .filter((f) => query.fix === "any" || (query.fix === "available") === f.fixAvailable)
    .filter((f) => !q || f.id.toLowerCase().includes(q) || f.package.toLowerCase().includes(q) || f.aliases.some((a) => a.toLowerCase().includes(q)))
    .sort((a, b) => {
      switch (query.vsort) {
        case "cvss":
          return (b.cvss?.score ?? -1) - (a.cvss?.score ?? -1);
        case "package":
          return a.package.localeCompare(b.package);
        case "id":
          return a.id.localeCompare(b.id);
        default:
          return sevRank(a.severity) - sevRank(b.severity) || (b.cvss?.score ?? -1) - (a.cvss?.score ?? -1) || a.id.localeCompare(b.id);
      }
    });
}

const PAGE = 100;

/**
 * One page of the image's components and its licenses, from documents that count: a withdrawn or not-counted
 * document's components are left out, as its findings are (the document itself is listed, marked). "This image
 * contains X under licence Y" is a claim the page makes; a developer's unsigned registry SBOM does not make it.
 */
async function componentPage(imageId: string, query: EvidenceQuery) {
  const cq = query.cq?.trim().toLowerCase();
  const cWhere: Prisma.ComponentWhereInput = {
    imageId,
    document: { withdrawnAt: null, notCounted: null },
    ...(cq ? { OR: [{ nameKey: { contains: cq } }, { purl: { contains: cq, mode: "insensitive" } }] } : {}),
  };
  const [components, componentTotal, licenses] = await Promise.all([
    db.component.findMany({
      where: cWhere,
      orderBy: [{ nameKey: "asc" }, { version: "asc" }],
      skip: (query.cpage - 1) * PAGE,
      take: PAGE,
      select: { name: true, version: true, purl: true, type: true, licenses: true, layer: true, documentId: true },
    }),
    db.component.count({ where: cWhere }),
    db.$queryRaw<
      { license: string; count: bigint }[]
    >`SELECT l AS license, count(*) AS count FROM components c JOIN evidence_documents d ON d.id = c.document_id AND d.withdrawn_at IS NULL AND d.not_counted IS NULL, unnest(CASE WHEN cardinality(c.licenses) = 0 THEN ARRAY['(none stated)'] ELSE c.licenses END) AS l WHERE c.image_id = ${imageId}::uuid GROUP BY l ORDER BY count(*) DESC, l LIMIT 50`,
  ]);
  return {
    components,
    componentTotal,
    componentPages: Math.max(1, Math.ceil(componentTotal / PAGE)),
    licenses: licenses.map((l) => ({ license: l.license, count: Number(l.count) })),
  };
}

/** Documents, merged vulnerabilities, a page of components with a license summary, and provenance for one image. */
export async function getImageEvidence({ imageId, query }: { actor: Actor; imageId: string; query: EvidenceQuery }) {
  const [documents, rows, provenance] = await Promise.all([
    db.evidenceDocument.findMany({ where: { imageId }, omit: { raw: true }, orderBy: { uploadedAt: "desc" } }),
    // Withdrawn and not-counted documents are listed (marked) but their findings do not count: the page shows what the gates judge.
    db.finding.findMany({ where: { imageId, OR: [{ documentId: null }, { document: { withdrawnAt: null, notCounted: null } }] }, take: 50_000 }),
    db.provenance.findMany({
      where: { imageId },
      include: {
        document: {
          select: {
            signatureStatus: true,
            signedBy: true,
            signatureDetail: true,
            format: true,
            uploadedAt: true,
            source: true,
            withdrawnAt: true,
            withdrawReason: true,
          },
        },
      },
    }),
  ]);
  const merged = mergeFindingRows(rows);
  const counts = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const f of merged) if (!NOT_APPLICABLE.includes(f.status)) counts[f.severity as Severity]++;
  const vulnerabilities = vulnerabilityList(merged, query);

  const { components, componentTotal, componentPages, licenses } = await componentPage(imageId, query);
  return {
    documents: documents.map((d) => ({
      ...d,
      uploadedAt: d.uploadedAt.toISOString(),
      scannedAt: d.scannedAt?.toISOString() ?? null,
      withdrawnAt: d.withdrawnAt?.toISOString() ?? null,
    })),
    severityCounts: counts,
    vulnerabilities,
    vulnerabilityTotal: merged.length,
    components,
    componentTotal,
    componentPages,
    licenses,
    provenance: provenance.map((p) => ({
      predicateType: p.predicateType,
      builderId: p.builderId,
      buildType: p.buildType,
      sourceRepo: p.sourceRepo,
      sourceCommit: p.sourceCommit,
      entryPoint: p.entryPoint,
      // Display only: the materials that parse (gates read the builder and source columns, not these).
      materials: readDisplayJson(provenanceMaterialsColumn, p.materials, { table: "provenance", column: "materials", id: p.id }).value ?? [],
      startedOn: p.startedOn?.toISOString() ?? null,
      finishedOn: p.finishedOn?.toISOString() ?? null,
      signature: { status: p.document.signatureStatus, by: p.document.signedBy, detail: p.document.signatureDetail },
      source: p.document.source,
      uploadedAt: p.document.uploadedAt.toISOString(),
      withdrawnAt: p.document.withdrawnAt?.toISOString() ?? null,
      withdrawReason: p.document.withdrawReason,
    })),
  };
}

/** Severity counts of applicable findings for many images at once (the list's summary column). */
export async function severitySummaries(imageIds: string[]): Promise<Map<string, Record<string, number>>> {
  if (!imageIds.length) return new Map();
  const rows = await db.$queryRaw<{ image_id: string; severity: string; n: bigint }[]>`
    SELECT image_id, severity, count(DISTINCT vuln_id || ':' || package || ':' || coalesce(installed_version, '')) AS n
    FROM findings WHERE image_id IN (${Prisma.join(imageIds.map((id) => Prisma.sql`${id}::uuid`))})
      AND status NOT IN ('not_affected', 'fixed', 'false_positive')
      -- Advisory findings have no document; a withdrawn or not-counted document's findings do not count.
      AND (document_id IS NULL OR document_id NOT IN (SELECT id FROM evidence_documents WHERE withdrawn_at IS NOT NULL OR not_counted IS NOT NULL))
    GROUP BY image_id, severity`;
  const out = new Map<string, Record<string, number>>();
  for (const r of rows) {
    const m = out.get(r.image_id) ?? {};
    m[r.severity] = Number(r.n);
    out.set(r.image_id, m);
  }
  return out;
}
