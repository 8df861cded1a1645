import { PackageURL } from "packageurl-js";
import { compareVersions, normalizeEcosystem, type Ecosystem } from "./compare";

/**
 * Package queries: a package by name, purl or Maven coordinates, and a version range written plainly
 * (`openssl < 3.0.7`, `log4j-core >=2.0.0 <2.17.1`, `lodash <= 4.17.20`, `lodash@4.17.20`) or as a purl
 * `vers:` range (`pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1`).
 *
 * Constraints always mean what a vers range means (https://github.com/package-url/purl-spec, VERSION-RANGE-SPEC):
 * sorted by the ecosystem's order, they describe one or more intervals. A plain range is one interval (at most
 * one lower and one upper bound, plus any number of exclusions), so for it this is the same as "all constraints
 * hold".
 */

export type Op = "<" | "<=" | ">" | ">=" | "=" | "!=";

export interface Constraint {
  op: Op;
  version: string;
}

export interface PackageQuery {
  /** The package name as components carry it (`log4j-core`, `@babel/core`, `openssl`). */
  name: string;
  /** purl namespace (Maven group, npm scope, distro). */
  namespace?: string;
  /** purl type, when the query named one (purl, Maven coordinates, vers scheme). */
  purlType?: string;
  /** `pkg:type/namespace/name`, without version or qualifiers, decoded, when the query gave a purl or coordinates. */
  purl?: string;
  /** null = any version. */
  constraints: Constraint[] | null;
  /** The ecosystem the query implies (purl type or vers scheme; alpine → apk), to compare versions with. */
  ecosystemHint?: string;
  /** Same as `ecosystemHint`. */
  ecosystem?: string;
  /** How the range was written. */
  syntax: "plain" | "vers" | "none";
}

export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryError";
  }
}

const MAX_QUERY = 1000;
const OPS: Op[] = ["<=", ">=", "!=", "<", ">", "="];
const LOWER: Op[] = [">", ">="];
const UPPER: Op[] = ["<", "<="];

function ecosystemOfType(t: string): string {
  const lower = t.toLowerCase();
  return lower === "alpine" ? "apk" : lower;
}

function purlKey(type: string, namespace: string | undefined, name: string): string {
  return `pkg:${type}/${namespace ? `${namespace}/` : ""}${name}`;
}

interface PackagePart {
  name: string;
  namespace?: string;
  purlType?: string;
  purl?: string;
  version?: string;
  ecosystemHint?: string;
}

function parsePackage(token: string): PackagePart {
  if (/^pkg:/i.test(token)) {
    let p: PackageURL;
    try {
      p = PackageURL.fromString(token);
    } catch (e) {
      throw new QueryError(`"${token}" is not a valid purl: ${(e as Error).message}`);
    }
    const type = p.type.toLowerCase();
    return {
      name: p.name,
      ...(p.namespace ? { namespace: p.namespace } : {}),
      purlType: type,
      purl: purlKey(type, p.namespace ?? undefined, p.name),
      ...(p.version ? { version: p.version } : {}),
      ecosystemHint: ecosystemOfType(type),
    };
  }
  // Maven coordinates: group:artifact[:version]
  const gav = /^([A-Za-z0-9_.-]+):([A-Za-z0-9_.-]+)(?::([^:\s]+))?$/.exec(token);
  if (gav) {
    const [, group, artifact, version] = gav;
    return {
      name: artifact!,
      namespace: group!,
      purlType: "maven",
      purl: purlKey("maven", group, artifact!),
      ...(version ? { version } : {}),
      ecosystemHint: "maven",
    };
  }
  // name@version (an npm scope's leading @ is part of the name)
  const at = token.lastIndexOf("@");
  if (at > 0) {
    const version = token.slice(at + 1);
    if (!version) throw new QueryError(`"${token}" ends with @ but gives no version`);
    const name = token.slice(0, at);
    return { name, version, ...(name.startsWith("@") ? { ecosystemHint: "npm" } : {}) };
  }
  return { name: token, ...(token.startsWith("@") && token.includes("/") ? { ecosystemHint: "npm" } : {}) };
}

function splitOp(s: string): Constraint {
  const op = OPS.find((o) => s.startsWith(o));
  const raw = op ? s.slice(op.length) : s;
  let version: string;
  try {
    version = decodeURIComponent(raw);
  } catch {
    throw new QueryError(`"${raw}" in the vers range is not correctly percent-encoded`);
  }
  if (!version) throw new QueryError(`"${s}" in the vers range has no version`);
  return { op: op ?? "=", version };
}

function parseVers(text: string): { scheme: string; constraints: Constraint[] | null } {
  const v = text.replace(/\s+/g, "");
  const m = /^vers:([A-Za-z0-9.+-]+)\/(.*)$/.exec(v);
  if (!m) throw new QueryError(`"${text}" is not a vers range: write vers:<type>/<constraints>, e.g. vers:maven/>=2.0.0|<2.17.1`);
  const scheme = m[1]!.toLowerCase();
  const body = m[2]!;
  if (!body) throw new QueryError(`"${text}" has no constraints after vers:${scheme}/`);
  if (body === "*") return { scheme, constraints: null };
  const constraints = body.split("|").map((part) => {
    if (!part) throw new QueryError(`"${text}" has an empty constraint (two | in a row?)`);
    if (part === "*") throw new QueryError(`"${text}": * stands alone in a vers range`);
    return splitOp(part);
  });
  return { scheme, constraints };
}

/** `>= 2.0.0, <2.17.1` → constraints. */
function parsePlain(rest: string): Constraint[] {
  const tokens = rest
    .replace(/(<=|>=|==|!=|<|>|=)/g, " $1 ")
    .split(/[\s,]+/)
    .filter(Boolean);
  const out: Constraint[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === "||" || t === "|") throw new QueryError(`"|" is not understood in a plain range; write alternatives as a vers range (vers:<type>/<1.0|>=2.0)`);
    if (/^[\^~]/.test(t)) throw new QueryError(`"${t}": ^ and ~ ranges are not understood; write the bounds, e.g. >=1.2.0 <2.0.0`);
    if (t === "==" || OPS.includes(t as Op)) {
      const version = tokens[i + 1];
      if (!version || OPS.includes(version as Op) || version === "==") throw new QueryError(`"${t}" needs a version after it`);
      out.push({ op: t === "==" ? "=" : (t as Op), version });
      i++;
    } else {
      out.push({ op: "=", version: t });
    }
  }
  return out;
}

function checkPlain(constraints: Constraint[], ecosystem: string): void {
  const lower = constraints.filter((c) => LOWER.includes(c.op));
  const upper = constraints.filter((c) => UPPER.includes(c.op));
  const eq = constraints.filter((c) => c.op === "=");
  if (lower.length > 1) throw new QueryError(`more than one lower bound (${lower.map((c) => c.op + c.version).join(", ")}); keep one`);
  if (upper.length > 1) throw new QueryError(`more than one upper bound (${upper.map((c) => c.op + c.version).join(", ")}); keep one`);
  if (eq.length > 1 || (eq.length && constraints.length > 1)) {
    throw new QueryError(`an exact version (=${eq[0]!.version}) cannot be combined with other constraints; write alternatives as a vers range`);
  }
  const lo = lower[0];
  const hi = upper[0];
  if (lo && hi) {
    const c = compareVersions(ecosystem, lo.version, hi.version);
    if (c > 0 || (c === 0 && (lo.op === ">" || hi.op === "<")))
      throw new QueryError(`the range is empty: ${lo.op}${lo.version} is not below ${hi.op}${hi.version}`);
  }
}

/** Parses a package query; throws QueryError with a message that says what to write instead. */
export function parseQuery(text: string): PackageQuery {
  const q = text.trim();
  if (!q) throw new QueryError("type a package name or purl, optionally followed by a version range (openssl < 3.0.7)");
  if (q.length > MAX_QUERY) throw new QueryError(`the query is longer than ${MAX_QUERY} characters`);

  const versAt = q.search(/(^|[\s@])vers:/);
  let pkgText = q;
  let vers: ReturnType<typeof parseVers> | undefined;
  if (versAt >= 0) {
    const start = q.indexOf("vers:", versAt);
    pkgText = q.slice(0, start).trim().replace(/@$/, "");
    vers = parseVers(q.slice(start));
    if (!pkgText) throw new QueryError(`a vers range needs a package before it, e.g. pkg:${vers.scheme}/<name> ${q.slice(start)}`);
  }

  // The package is the first word; for a name (not a purl) an operator also ends it: "openssl<3.0.7".
  const m = /^pkg:/i.test(pkgText) ? /^\S+/.exec(pkgText) : /^[^\s<>=!,]+/.exec(pkgText);
  if (!m) throw new QueryError(`the query starts with "${pkgText.slice(0, 1)}"; start with a package name or purl`);
  const pkg = parsePackage(m[0]);
  const rest = pkgText.slice(m[0].length).trim();

  const base = {
    name: pkg.name,
    ...(pkg.namespace ? { namespace: pkg.namespace } : {}),
    ...(pkg.purlType ? { purlType: pkg.purlType } : {}),
    ...(pkg.purl ? { purl: pkg.purl } : {}),
  };

  if (vers) {
    if (rest) throw new QueryError(`"${rest}" stands between the package and the vers range; give one range`);
    if (pkg.version) throw new QueryError(`${m[0]} pins version ${pkg.version} and a vers range follows; give one or the other`);
    if (
      pkg.purlType &&
      normalizeEcosystem(pkg.purlType) !== normalizeEcosystem(vers.scheme) &&
      ecosystemOfType(pkg.purlType) !== ecosystemOfType(vers.scheme)
    ) {
      throw new QueryError(`the purl is of type ${pkg.purlType} but the range is vers:${vers.scheme}`);
    }
    const eco = pkg.ecosystemHint ?? ecosystemOfType(vers.scheme);
    return { ...base, ...(pkg.purlType ? {} : { purlType: vers.scheme }), constraints: vers.constraints, ecosystemHint: eco, ecosystem: eco, syntax: "vers" };
  }

  const eco = pkg.ecosystemHint;
  const ecoFields = eco ? { ecosystemHint: eco, ecosystem: eco } : {};
  if (pkg.version) {
    if (rest) throw new QueryError(`${m[0]} pins version ${pkg.version}; add a range or a version, not both`);
    return { ...base, constraints: [{ op: "=", version: pkg.version }], ...ecoFields, syntax: "plain" };
  }
  if (!rest || rest === "*" || /^any$/i.test(rest)) return { ...base, constraints: null, ...ecoFields, syntax: "none" };
  const constraints = parsePlain(rest);
  checkPlain(constraints, eco ?? "generic");
  return { ...base, constraints, ...ecoFields, syntax: "plain" };
}

/**
 * deb and rpm: a bound written without an epoch is compared with the version's epoch left out, since people
 * (and most advisories) write upstream versions: `openssl < 3.0.7` is meant to match RHEL's 1:1.1.1k-7.el8.
 */
function comparable(eco: Ecosystem, version: string, bound: string): string {
  if ((eco === "deb" || eco === "rpm") && !/^\d+:/.test(bound)) return version.replace(/^\d+:/, "");
  return version;
}

const isLower = (op: Op) => op === ">" || op === ">=";
const isUpper = (op: Op) => op === "<" || op === "<=";

/**
 * Whether `version` is in the range, with versions ordered by `ecosystem`'s rules. null or [] = any version.
 * Evaluated as a vers range: exclusions (!=) first, then exact and inclusive-bound equality, then the
 * intervals the sorted bounds describe.
 */
export function matches(ecosystem: string, version: string, constraints: readonly Constraint[] | null): boolean {
  if (!constraints || constraints.length === 0) return true;
  const eco = normalizeEcosystem(ecosystem);
  const cmp = (a: string, b: string) => compareVersions(eco, a, b);
  const vs = (bound: string) => cmp(comparable(eco, version, bound), bound);
  for (const c of constraints) if (c.op === "!=" && vs(c.version) === 0) return false;
  for (const c of constraints) if ((c.op === "=" || c.op === "<=" || c.op === ">=") && vs(c.version) === 0) return true;

  const bounds = constraints.filter((c) => isLower(c.op) || isUpper(c.op)).sort((x, y) => cmp(x.version, y.version));
  // Only exclusions: every other version matches. Only exact versions: none matched above.
  if (!bounds.length) return !constraints.some((c) => c.op === "=");

  const first = bounds[0]!;
  if (isUpper(first.op) && vs(first.version) < 0) return true;
  const last = bounds[bounds.length - 1]!;
  if (isLower(last.op) && vs(last.version) > 0) return true;
  for (let i = 1; i < bounds.length; i++) {
    const prev = bounds[i - 1]!;
    const cur = bounds[i]!;
    if (isLower(prev.op) && isUpper(cur.op) && vs(prev.version) > 0 && vs(cur.version) < 0) return true;
  }
  return false;
}

/** `>=2.0.0 <2.17.1`, for display. */
export function formatConstraints(constraints: readonly Constraint[] | null): string {
  if (!constraints?.length) return "any version";
  return constraints.map((c) => `${c.op}${c.version}`).join(" ");
}
