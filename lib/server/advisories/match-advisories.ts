import "server-only";
import { Prisma, type Tx } from "../../db";
import { normalizePurl, purlSearchKey } from "../../evidence/purl";
import { componentKeys, releaseMatches, sourcePackageName, type OsvAffected } from "../../evidence/osv";
import { fixedVersionFor, isAffected } from "../../versions/osv";
import { NOT_APPLICABLE } from "../evidence/get-image-evidence";

/** What matching needs of a stored advisory. */
export interface MatchableAdvisory {
  id: string;
  aliases: string[];
  summary: string | null;
  severity: string;
  cvssScore: number | null;
  cvssVector: string | null;
  withdrawn: Date | null;
  affected: OsvAffected[];
}

interface ComponentRow {
  image_id: string;
  name: string;
  version: string | null;
  purl: string | null;
  ecosystem: string | null;
}

interface VexRow {
  image_id: string;
  vuln_id: string;
  aliases: string[];
  package: string;
  purl: string | null;
  installed_version: string | null;
  status: string;
  status_detail: string | null;
}

const CHUNK = 5000;

/** Lower-cased names a component row may carry for an OSV package name (Maven artifact, npm scope, Go path). */
function nameCandidates(name: string): string[] {
  const n = name.toLowerCase();
  return [...new Set([n, n.slice(n.lastIndexOf(":") + 1), n.slice(n.lastIndexOf("/") + 1)])].filter(Boolean);
}

/**
 * Component rows (with a version, from live, counted evidence) whose name, or whose purl's source package (a distro
 * binary package: `libssl3` with `upstream=openssl`), is one of `names`, chunked. Found by review: only the name was
 * read, so an advisory naming the source package (as Debian's, Alpine's and Red Hat's do) never reached an image that
 * carries only the binary packages, and the findings gate passed. Both by index (imprimatur_purl_source_name, migration
 * 20261212050000); matchComponents then judges each row by its keys exactly.
 */
async function findCandidateComponents(tx: Tx, names: string[], imageIds: readonly string[] | undefined) {
  const rows: ComponentRow[] = [];
  for (let i = 0; i < names.length; i += CHUNK) {
    const chunk = names.slice(i, i + CHUNK);
    rows.push(
      ...(await tx.$queryRaw<ComponentRow[]>`
        SELECT DISTINCT image_id, name, version, purl, ecosystem FROM components c
        WHERE (name_key = ANY(${chunk}::text[]) OR imprimatur_purl_source_name(purl) = ANY(${chunk}::text[])) AND version IS NOT NULL
          AND EXISTS (SELECT 1 FROM evidence_documents d WHERE d.id = c.document_id AND d.withdrawn_at IS NULL AND d.not_counted IS NULL)
        ${imageIds ? Prisma.sql`AND image_id = ANY(${[...imageIds]}::uuid[])` : Prisma.empty}`),
    );
  }
  return rows;
}

type Hit = { advisory: MatchableAdvisory; row: ComponentRow; fixed: string | undefined };

/** The (image, advisory, package, version) hits: components whose ecosystem, key, release and version an advisory affects. */
function matchComponents(rows: ComponentRow[], byName: Map<string, { advisory: MatchableAdvisory; affected: OsvAffected }[]>) {
  const hits = new Map<string, Hit>();
  // One verdict per (affected entry, version): an advisory may list one package in several entries (one per vulnerable
  // line of versions, as OSV allows), and a cache keyed by advisory and package answered the later entries with the
  // first one's "not affected", so a version in the second range got no finding.
  const verdicts = new Map<OsvAffected, Map<string, boolean>>();
  for (const row of rows) {
    const source = sourcePackageName(row.purl);
    const cands = [...(byName.get(row.name.toLowerCase()) ?? []), ...(source && source !== row.name.toLowerCase() ? (byName.get(source) ?? []) : [])];
    if (!cands.length) continue;
    const ck = componentKeys(row);
    for (const { advisory, affected } of cands) {
      if (ck.ecosystem !== affected.ecosystem || !ck.keys.includes(affected.key) || !releaseMatches(affected.release, ck.distro)) continue;
      let byVersion = verdicts.get(affected);
      if (!byVersion) verdicts.set(affected, (byVersion = new Map()));
      let v = byVersion.get(row.version!);
      if (v === undefined) {
        v = isAffected(affected.ecosystem, row.version!, affected.ranges, affected.versions);
        byVersion.set(row.version!, v);
      }
      if (!v) continue;
      const key = `${row.image_id}\u0000${advisory.id}\u0000${row.name.toLowerCase()}\u0000${row.version}`;
      if (!hits.has(key)) hits.set(key, { advisory, row, fixed: fixedVersionFor(affected.ecosystem, row.version!, affected.ranges) });
    }
  }
  return hits;
}

/**
 * Is the VEX statement about this component's package? When both name a purl, the package is its type, namespace and
 * name (pkg:pypi/lodash is not pkg:npm/lodash, whatever the bare names say); the name alone decides only when one of
 * them has no purl.
 */
function sameVexPackage(v: { package: string; purl: string | null }, c: { name: string; purl: string | null }): boolean {
  if (v.purl !== null && (v.purl === c.purl || normalizePurl(v.purl) === c.purl)) return true;
  const vKey = purlSearchKey(v.purl);
  const cKey = purlSearchKey(c.purl);
  if (vKey !== null && cKey !== null) return vKey === cKey;
  return v.package.toLowerCase() === c.name.toLowerCase();
}

/** A VEX statement (a finding row of a VEX document) as vexApplies reads it. */
export interface VexStatement {
  vulnId: string;
  aliases: readonly string[];
  package: string;
  purl: string | null;
  installedVersion: string | null;
}

/**
 * Does this VEX statement speak of an advisory (by its id or an alias, `advisoryIds` upper-cased) for this component
 * (its package, and its version when the statement names one)? The one rule: matching applies it when it writes the
 * advisory findings, and the gates apply it again to the VEX that counts for a request (gather-gate-facts.ts).
 */
export function vexApplies(v: VexStatement, advisoryIds: ReadonlySet<string>, c: { name: string; purl: string | null; version: string | null }): boolean {
  return (
    [v.vulnId, ...v.aliases].some((x) => advisoryIds.has(x.toUpperCase())) && sameVexPackage(v, c) && (!v.installedVersion || v.installedVersion === c.version)
  );
}

/** Live, counted VEX statements (an unsigned registry VEX under uploader rules is not: may-attach-evidence) on these images saying one of these vulnerabilities (by id or alias) does not apply. */
async function findVexStatements(tx: Tx, hitImages: string[], vulnIds: string[]) {
  const vex: VexRow[] = [];
  for (let i = 0; i < hitImages.length; i += CHUNK) {
    vex.push(
      ...(await tx.$queryRaw<VexRow[]>`
        SELECT f.image_id, f.vuln_id, f.aliases, f.package, f.purl, f.installed_version, f.status, f.status_detail
        FROM findings f JOIN evidence_documents d ON d.id = f.document_id
        WHERE d.kind = 'vex' AND d.withdrawn_at IS NULL AND d.not_counted IS NULL AND f.image_id = ANY(${hitImages.slice(i, i + CHUNK)}::uuid[]) AND f.status = ANY(${NOT_APPLICABLE}::text[])
          AND (upper(f.vuln_id) = ANY(${vulnIds}::text[]) OR EXISTS (SELECT 1 FROM unnest(f.aliases) a WHERE upper(a) = ANY(${vulnIds}::text[])))`),
    );
  }
  return vex;
}

/**
 * Replaces the advisory findings of `advisories` (and, with `imageIds`, only on those images) by a fresh match
 * against every stored component of live (not withdrawn) evidence, in the caller's transaction. A withdrawn advisory matches nothing. A VEX
 * statement on the image that says the vulnerability (by id or alias) does not affect the package makes the
 * finding not_affected, as it would a scanner's. Returns the findings written and the images they are on.
 */
export async function matchAdvisories(
  tx: Tx,
  { advisories, imageIds }: { advisories: readonly MatchableAdvisory[]; imageIds?: readonly string[] },
): Promise<{ findings: number; images: Set<string>; affectedImages: Set<string> }> {
  const images = new Set<string>();
  const affectedImages = new Set<string>();
  if (!advisories.length) return { findings: 0, images, affectedImages };
  const ids = advisories.map((a) => a.id);
  // Images that had findings from these advisories before: their gates may now hold again.
  const before = await tx.$queryRaw<{ image_id: string }[]>`
    DELETE FROM findings WHERE advisory_id = ANY(${ids}::text[]) ${imageIds ? Prisma.sql`AND image_id = ANY(${[...imageIds]}::uuid[])` : Prisma.empty} RETURNING image_id`;
  for (const r of before) images.add(r.image_id);

  const live = advisories.filter((a) => !a.withdrawn && a.affected.length);
  const byName = new Map<string, { advisory: MatchableAdvisory; affected: OsvAffected }[]>();
  for (const advisory of live) {
    for (const affected of advisory.affected) {
      for (const n of nameCandidates(affected.name)) {
        const list = byName.get(n) ?? [];
        list.push({ advisory, affected });
        byName.set(n, list);
      }
    }
  }
  const rows = await findCandidateComponents(tx, [...byName.keys()], imageIds);

  const hits = matchComponents(rows, byName);
  if (!hits.size) return { findings: 0, images, affectedImages };

  // VEX statements on the matched images about these vulnerabilities (by id or alias).
  const hitImages = [...new Set([...hits.values()].map((h) => h.row.image_id))];
  const vulnIds = [...new Set(live.flatMap((a) => [a.id, ...a.aliases]).map((x) => x.toUpperCase()))];
  const vex = await findVexStatements(tx, hitImages, vulnIds);
  const vexFor = (h: Hit): VexRow | undefined => {
    const mine = new Set([h.advisory.id, ...h.advisory.aliases].map((x) => x.toUpperCase()));
    return vex.find(
      (v) =>
        v.image_id === h.row.image_id &&
        vexApplies({ vulnId: v.vuln_id, aliases: v.aliases, package: v.package, purl: v.purl, installedVersion: v.installed_version }, mine, h.row),
    );
  };

  const data = [...hits.values()].map((h) => {
    const v = vexFor(h);
    images.add(h.row.image_id);
    if (!v) affectedImages.add(h.row.image_id);
    return {
      advisoryId: h.advisory.id,
      imageId: h.row.image_id,
      vulnId: h.advisory.id,
      aliases: h.advisory.aliases,
      severity: h.advisory.severity,
      cvssScore: h.advisory.cvssScore,
      cvssVector: h.advisory.cvssVector,
      package: h.row.name,
      purl: h.row.purl,
      installedVersion: h.row.version,
      fixedVersion: h.fixed ?? null,
      fixAvailable: h.fixed !== undefined,
      status: v ? v.status : "affected",
      statusDetail: v ? `VEX: ${v.status_detail ?? v.status}` : null,
      source: `osv:${h.advisory.id}`,
      title: h.advisory.summary,
    };
  });
  for (let i = 0; i < data.length; i += CHUNK) await tx.finding.createMany({ data: data.slice(i, i + CHUNK) });
  return { findings: data.length, images, affectedImages };
}

/** Stored advisories → what matchAdvisories needs (the affected list is re-derived from the stored raw record). */
export function toMatchable(
  row: {
    id: string;
    aliases: string[];
    summary: string | null;
    severity: string;
    cvssScore: number | null;
    cvssVector: string | null;
    withdrawn: Date | null;
    raw: unknown;
  },
  parse: (raw: unknown) => { affected: OsvAffected[] },
): MatchableAdvisory {
  return {
    id: row.id,
    aliases: row.aliases,
    summary: row.summary,
    severity: row.severity,
    cvssScore: row.cvssScore,
    cvssVector: row.cvssVector,
    withdrawn: row.withdrawn,
    affected: parse(row.raw).affected,
  };
}
