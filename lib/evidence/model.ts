/**
 * The one normalized model that every evidence format (Trivy, Grype, CycloneDX, SPDX, in-toto, DSSE) is turned
 * into. Framework-free: plain data in, plain data out.
 *
 * Every string here is copied from the document as it is (no HTML escaping, no trimming of content): the UI
 * renders them as text, so a package called `<script>` stays the string `<script>`.
 */

import { table } from "./lookup";

export const SEVERITIES = ["critical", "high", "medium", "low", "negligible", "unknown"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** VEX states (CycloneDX `analysis.state` and OpenVEX statuses map onto these). */
export const FINDING_STATUSES = ["affected", "fixed", "not_affected", "under_investigation", "false_positive", "unknown"] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

export interface Component {
  name: string;
  version?: string;
  purl?: string;
  /** The document's own component type: `library`, `operating-system`, an SPDX purpose, a Trivy class, … */
  type?: string;
  /** SPDX ids, names or expressions, as the document states them; NOASSERTION/NONE are left out. */
  licenses: string[];
  /** The layer the package was found in: a layer digest when the document gives one, else a diff ID. */
  layer?: string;
  /** Derived from the purl type (alpine → apk), else from the scanner's package type. */
  ecosystem?: string;
}

export interface Cvss {
  score: number;
  vector?: string;
  /** "2.0", "3.0", "3.1", "4.0" */
  version?: string;
}

export interface Finding {
  /** The vulnerability id as the scanner reports it (CVE-…, GHSA-…, ALPINE-…). */
  id: string;
  /** Other ids of the same vulnerability the document names (GHSA ↔ CVE, vendor ids). Never includes `id`. */
  aliases: string[];
  severity: Severity;
  cvss?: Cvss;
  package: string;
  purl?: string;
  installedVersion?: string;
  /** As the scanner states it; Trivy may list several, comma-separated. */
  fixedVersion?: string;
  fixAvailable: boolean;
  status: FindingStatus;
  /** The document's own wording behind `status` (e.g. `trivy: will_not_fix`, a VEX justification). */
  statusDetail?: string;
  /** The scanner (or VEX author tool) that reported it: `trivy`, `grype`, … */
  source: string;
  title?: string;
  urls?: string[];
}

export interface Material {
  uri: string;
  digest?: Record<string, string>;
}

export interface Provenance {
  predicateType: string;
  builderId?: string;
  buildType?: string;
  sourceRepo?: string;
  sourceCommit?: string;
  /** SLSA 0.2 `invocation.configSource.entryPoint`. */
  entryPoint?: string;
  /** The CI workflow that ran the build (GitHub: the workflow path or ref), when the predicate names one. */
  workflow?: string;
  materials: Material[];
  startedOn?: string;
  finishedOn?: string;
}

export type EvidenceFormat = "trivy" | "grype" | "cyclonedx" | "spdx" | "in-toto" | "dsse";
export type EvidenceKind = "scan" | "sbom" | "vex" | "provenance" | "attestation";

export interface Subject {
  /** `algorithm:hex`, e.g. `sha256:9e18…` */
  digest?: string;
  name?: string;
  /** manifest = an image manifest (or index) digest; config = an image ID (config blob digest). */
  kind: "manifest" | "config" | "unknown";
}

export interface DsseEnvelope {
  payloadType: string;
  payload: Buffer;
  signatures: { keyid: string; sig: Buffer }[];
  /** The bytes the signatures sign: `DSSEv1 <len> <payloadType> <len> <payload>`. */
  pae: Buffer;
}

export interface ParsedEvidence {
  format: EvidenceFormat;
  kind: EvidenceKind;
  components: Component[];
  findings: Finding[];
  provenance?: Provenance;
  /** The in-toto predicate type, when the document is (or wraps) an in-toto statement. */
  predicateType?: string;
  /** The time the document itself states (scan time, SBOM creation time); ISO 8601 as written. */
  scannedAt?: string;
  tool?: { name: string; version?: string };
  /** Every digest the document names as what it is about. */
  subjects: Subject[];
  /** Present when the input was a DSSE envelope, so the caller can verify it against its trusted keys. */
  dsse?: DsseEnvelope;
  /** For JSON Lines input with several documents: each one, in order (the top level then holds their union). */
  parts?: ParsedEvidence[];
}

// ---------------------------------------------------------------------------------------------------------------
// Small shared helpers
// ---------------------------------------------------------------------------------------------------------------

const SEVERITY_ALIASES: Record<string, Severity> = table({
  critical: "critical",
  high: "high",
  important: "high",
  medium: "medium",
  moderate: "medium",
  low: "low",
  negligible: "negligible",
  info: "negligible",
  informational: "negligible",
  none: "negligible",
  unknown: "unknown",
});

export function normalizeSeverity(s: string | null | undefined): Severity {
  if (!s) return "unknown";
  return SEVERITY_ALIASES[s.trim().toLowerCase()] ?? "unknown";
}

/** 0 = critical … 5 = unknown. */
export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Severity from a CVSS base score, for documents that give only a score. */
export function severityFromScore(score: number): Severity {
  if (score >= 9) return "critical";
  if (score >= 7) return "high";
  if (score >= 4) return "medium";
  if (score > 0) return "low";
  return "negligible";
}

const PURL_TYPE_TO_ECOSYSTEM: Record<string, string> = table({
  alpine: "apk",
  apk: "apk",
  deb: "deb",
  debian: "deb",
  rpm: "rpm",
  npm: "npm",
  maven: "maven",
  pypi: "pypi",
  golang: "golang",
  cargo: "cargo",
  gem: "gem",
  nuget: "nuget",
  composer: "composer",
  hex: "hex",
  pub: "pub",
  swift: "swift",
  cocoapods: "cocoapods",
  conan: "conan",
  conda: "conda",
  github: "github",
  generic: "generic",
  oci: "oci",
  docker: "oci",
});

/** The purl type (`pkg:TYPE/…`), lower-cased, without parsing the rest. Cheap enough for 100k components. */
export function purlType(purl: string | undefined): string | undefined {
  if (!purl || !purl.startsWith("pkg:")) return undefined;
  let i = 4;
  while (purl[i] === "/") i++; // "pkg://type/…" is tolerated by the purl spec
  const slash = purl.indexOf("/", i);
  if (slash <= i) return undefined;
  const t = purl.slice(i, slash).toLowerCase();
  return /^[a-z][a-z0-9.+-]*$/.test(t) ? t : undefined;
}

export function ecosystemFromPurl(purl: string | undefined): string | undefined {
  const t = purlType(purl);
  if (!t) return undefined;
  return PURL_TYPE_TO_ECOSYSTEM[t] ?? t;
}

/** Scanner package types (Trivy result `Type`, Grype artifact `type`, Syft `syft:package:type`) → ecosystem. */
const PACKAGE_TYPE_TO_ECOSYSTEM: Record<string, string> = table({
  alpine: "apk",
  apk: "apk",
  wolfi: "apk",
  chainguard: "apk",
  debian: "deb",
  ubuntu: "deb",
  deb: "deb",
  dpkg: "deb",
  redhat: "rpm",
  centos: "rpm",
  rocky: "rpm",
  alma: "rpm",
  amazon: "rpm",
  oracle: "rpm",
  fedora: "rpm",
  photon: "rpm",
  suse: "rpm",
  "opensuse.leap": "rpm",
  "suse linux enterprise server": "rpm",
  "cbl-mariner": "rpm",
  azurelinux: "rpm",
  rpm: "rpm",
  npm: "npm",
  yarn: "npm",
  pnpm: "npm",
  "node-pkg": "npm",
  javascript: "npm",
  jar: "maven",
  pom: "maven",
  gradle: "maven",
  sbt: "maven",
  "java-archive": "maven",
  "jenkins-plugin": "maven",
  java: "maven",
  pip: "pypi",
  pipenv: "pypi",
  poetry: "pypi",
  uv: "pypi",
  "python-pkg": "pypi",
  python: "pypi",
  gomod: "golang",
  gobinary: "golang",
  "go-module": "golang",
  go: "golang",
  cargo: "cargo",
  "rust-binary": "cargo",
  "rust-crate": "cargo",
  bundler: "gem",
  gemspec: "gem",
  gem: "gem",
  nuget: "nuget",
  "dotnet-core": "nuget",
  "dotnet-deps": "nuget",
  dotnet: "nuget",
  composer: "composer",
  "php-composer": "composer",
});

export function ecosystemFromPackageType(t: string | undefined): string | undefined {
  if (!t) return undefined;
  return PACKAGE_TYPE_TO_ECOSYSTEM[t.toLowerCase()];
}

/** `sha256:<64 hex>` (or another algorithm with its hex), lower-cased; anything else → undefined. */
export function normalizeDigest(d: string | undefined | null): string | undefined {
  // A digest is at most an algorithm name and 128 hex digits: longer input is not one (and is never scanned).
  if (!d || d.length > 256) return undefined;
  const m = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-fA-F0-9]{32,})$/.exec(d.trim());
  if (!m) return undefined;
  return `${m[1]}:${m[2]!.toLowerCase()}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Merging findings from several scanners
// ---------------------------------------------------------------------------------------------------------------

export interface FindingReport {
  source: string;
  id: string;
  severity: Severity;
  status: FindingStatus;
  statusDetail?: string;
  fixedVersion?: string;
  cvss?: Cvss;
}

export interface MergedFinding extends Finding {
  /** Every scanner that reported it, in first-seen order, without repeats. */
  sources: string[];
  /** What each report said, so a disagreement (severity, status, fix) can be shown as it is. */
  reports: FindingReport[];
}

/** Status precedence when reports disagree: the most cautious wins (a merge never hides an "affected"). */
const STATUS_PRECEDENCE: FindingStatus[] = ["affected", "under_investigation", "unknown", "fixed", "not_affected", "false_positive"];

const CVE = /^CVE-\d{4}-\d+$/i;

function packageKey(f: Finding): string {
  return `${f.package.toLowerCase()}\u0000${f.installedVersion ?? ""}`;
}

/**
 * The same finding reported by several scanners (or twice by one) is returned once: two findings are the same
 * when they are about the same package and installed version, and share an id or an alias (GHSA-… in one and
 * its CVE in the other). The merged finding keeps the CVE id when there is one, the union of the aliases and
 * URLs, the highest severity and CVSS score, a fix if any report knows one, and the most cautious status;
 * `reports` keeps each report's own view.
 */
export function mergeFindings(lists: Finding[][]): MergedFinding[] {
  const all: Finding[] = [];
  for (const list of lists) for (const f of list) all.push(f);

  // Union-find over findings: same package key and an id in common.
  const parent = all.map((_, i) => i);
  const find = (i: number): number => {
    let r = i;
    while (parent[r] !== r) r = parent[r]!;
    let c = i;
    while (parent[c] !== r) {
      const n = parent[c]!;
      parent[c] = r;
      c = n;
    }
    return r;
  };
  const firstWithId = new Map<string, number>();
  all.forEach((f, i) => {
    const pk = packageKey(f);
    for (const id of [f.id, ...f.aliases]) {
      if (!id) continue;
      const key = `${pk}\u0000${id.toUpperCase()}`;
      const j = firstWithId.get(key);
      if (j === undefined) firstWithId.set(key, i);
      else {
        const a = find(i);
        const b = find(j);
        if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
      }
    }
  });

  const groups = new Map<number, Finding[]>();
  all.forEach((f, i) => {
    const r = find(i);
    const g = groups.get(r);
    if (g) g.push(f);
    else groups.set(r, [f]);
  });

  const out: MergedFinding[] = [];
  for (const group of groups.values()) out.push(mergeGroup(group));
  return out;
}

function mergeGroup(group: Finding[]): MergedFinding {
  const first = group[0]!;
  const ids = new Set<string>();
  for (const f of group) {
    ids.add(f.id);
    for (const a of f.aliases) ids.add(a);
  }
  const id = group.find((f) => CVE.test(f.id))?.id ?? [...ids].find((x) => CVE.test(x)) ?? first.id;
  const aliases = [...ids].filter((x) => x && x.toUpperCase() !== id.toUpperCase());

  let severity = first.severity;
  let cvss = first.cvss;
  let status = first.status;
  let statusDetail = first.statusDetail;
  let fixedVersion = first.fixedVersion;
  let purl = first.purl;
  let title = first.title;
  const urls = new Set<string>();
  const sources: string[] = [];
  const reports: FindingReport[] = [];
  for (const f of group) {
    if (!sources.includes(f.source)) sources.push(f.source);
    reports.push({
      source: f.source,
      id: f.id,
      severity: f.severity,
      status: f.status,
      ...(f.statusDetail !== undefined ? { statusDetail: f.statusDetail } : {}),
      ...(f.fixedVersion !== undefined ? { fixedVersion: f.fixedVersion } : {}),
      ...(f.cvss ? { cvss: f.cvss } : {}),
    });
    // "unknown" says nothing; any stated severity beats it, and otherwise the highest wins.
    if (severity === "unknown" || (f.severity !== "unknown" && severityRank(f.severity) < severityRank(severity))) severity = f.severity;
    if (f.cvss && (!cvss || f.cvss.score > cvss.score)) cvss = f.cvss;
    if (STATUS_PRECEDENCE.indexOf(f.status) < STATUS_PRECEDENCE.indexOf(status)) {
      status = f.status;
      statusDetail = f.statusDetail;
    }
    fixedVersion ??= f.fixedVersion;
    purl ??= f.purl;
    title ??= f.title;
    for (const u of f.urls ?? []) urls.add(u);
  }
  return {
    id,
    aliases,
    severity,
    ...(cvss ? { cvss } : {}),
    package: first.package,
    ...(purl !== undefined ? { purl } : {}),
    ...(first.installedVersion !== undefined ? { installedVersion: first.installedVersion } : {}),
    ...(fixedVersion !== undefined ? { fixedVersion } : {}),
    fixAvailable: group.some((f) => f.fixAvailable),
    status,
    ...(statusDetail !== undefined ? { statusDetail } : {}),
    source: sources.join(", "),
    ...(title !== undefined ? { title } : {}),
    ...(urls.size ? { urls: [...urls] } : {}),
    sources,
    reports,
  };
}
