import { z } from "zod";
import { EvidenceError, runSync, type Steps } from "./errors";
import type { Cvss, Subject } from "./model";
import { normalizeDigest } from "./model";

// Go encoders write `null` for nil slices and maps, so optional fields accept null as "absent".
export const optStr = z.string().nullish();
export const optNum = z.number().nullish();
export const strArray = z.array(z.string()).nullish();

/** Where a (possibly nested) document sits, for error messages: `CycloneDX (in DSSE payload)`, `predicate.`. */
export interface ParseContext {
  label: string;
  prefix: readonly PropertyKey[];
}

export const TOP: ParseContext = { label: "", prefix: [] };

export function nested(ctx: ParseContext, label: string, ...path: PropertyKey[]): ParseContext {
  return { label: ctx.label ? `${label} in ${ctx.label}` : label, prefix: [...ctx.prefix, ...path] };
}

export function labelOf(ctx: ParseContext, format: string): string {
  return ctx.label ? `${format} (${ctx.label})` : format;
}

/**
 * JSON nesting depth deeper than this is refused before the text is parsed: real SBOMs, scans and attestations
 * nest a few dozen levels at most, while recursive validation of a document nested 10,000 deep overflows the stack.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * The deepest nesting of arrays and objects in JSON text, in one linear pass (strings and their escapes skipped).
 * Stops counting as soon as `limit` is passed.
 */
export function jsonDepth(text: string, limit = MAX_JSON_DEPTH): number {
  return runSync(jsonDepthSteps(text, limit));
}

const DEPTH_STEP = 1 << 20;

/** jsonDepth as steps: pauses every 1 Mi characters (see runAsync). */
export function* jsonDepthSteps(text: string, limit = MAX_JSON_DEPTH): Steps<number> {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    if (i % DEPTH_STEP === DEPTH_STEP - 1) yield;
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Throws INVALID_DOCUMENT when `text` nests deeper than MAX_JSON_DEPTH. */
export function assertJsonDepth(text: string, what: string): void {
  runSync(assertJsonDepthSteps(text, what));
}

export function* assertJsonDepthSteps(text: string, what: string): Steps<void> {
  if ((yield* jsonDepthSteps(text)) > MAX_JSON_DEPTH) {
    throw new EvidenceError("INVALID_DOCUMENT", `${what} nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`);
  }
}

/** `s` without the trailing run of `ch` (a loop, not /ch+$/, which is quadratic on a long run followed by another character). */
export function trimEnd(s: string, ch: string): string {
  let end = s.length;
  while (end > 0 && s[end - 1] === ch) end--;
  return s.slice(0, end);
}

/** `x ?? undefined` for optional model fields (exactOptionalPropertyTypes-friendly: absent, not undefined). */
export function opt<K extends string, V>(key: K, v: V | null | undefined): { [P in K]?: V } {
  return (v === null || v === undefined || v === "" ? {} : { [key]: v }) as { [P in K]?: V };
}

export function uniq<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/** CVSS version from a vector string ("CVSS:3.1/…" → "3.1"; a bare v2 vector → "2.0"). */
export function cvssVersionOf(vector: string | undefined | null, fallback?: string): string | undefined {
  if (vector) {
    const m = /^CVSS:(\d+(?:\.\d+)?)\//.exec(vector);
    if (m) return m[1];
    if (/^\(?AV:[LAN]\/AC:[HML]\/Au:/.test(vector)) return "2.0";
  }
  return fallback;
}

export function cvss(score: number | null | undefined, vector?: string | null, version?: string): Cvss | undefined {
  if (typeof score !== "number" || !Number.isFinite(score)) return undefined;
  const v = cvssVersionOf(vector, version);
  return { score, ...opt("vector", vector), ...opt("version", v) };
}

/** Higher CVSS version first, then higher score. */
export function betterCvss(a: Cvss | undefined, b: Cvss | undefined): Cvss | undefined {
  if (!a) return b;
  if (!b) return a;
  const va = Number.parseFloat(a.version ?? "0");
  const vb = Number.parseFloat(b.version ?? "0");
  if (va !== vb) return va > vb ? a : b;
  return b.score > a.score ? b : a;
}

export function addSubject(list: Subject[], s: Subject): void {
  if (s.digest) {
    const existing = list.find((x) => x.digest === s.digest);
    if (existing) {
      if (existing.kind === "unknown" && s.kind !== "unknown") existing.kind = s.kind;
      if (!existing.name && s.name) existing.name = s.name;
      return;
    }
  }
  list.push(s);
}

/** `repo@sha256:…` (Trivy RepoDigests, Docker RepoDigests) → a manifest subject. */
export function repoDigestSubject(ref: string): Subject | undefined {
  const at = ref.lastIndexOf("@");
  const digest = normalizeDigest(at >= 0 ? ref.slice(at + 1) : ref);
  if (!digest) return undefined;
  return { digest, ...opt("name", at > 0 ? ref.slice(0, at) : undefined), kind: "manifest" };
}

/** The digest in a `pkg:oci/name@sha256%3A…` purl (the manifest digest, per the purl spec for oci). */
export function ociPurlDigest(purl: string | undefined | null): string | undefined {
  if (!purl || !/^pkg:\/*oci\//i.test(purl)) return undefined;
  const noQ = purl.split(/[?#]/)[0]!;
  const at = noQ.lastIndexOf("@");
  if (at < 0) return undefined;
  let v = noQ.slice(at + 1);
  try {
    v = decodeURIComponent(v);
  } catch {
    return undefined;
  }
  return normalizeDigest(v);
}

/** A digest map (in-toto DigestSet, SLSA materials) with only plausible algorithm names kept. */
export function digestSet(d: Record<string, string> | null | undefined): Record<string, string> | undefined {
  if (!d) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const [k, v] of Object.entries(d)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(k) || typeof v !== "string") continue;
    out[k] = v;
    n++;
  }
  return n ? out : undefined;
}

/** The best single digest of a digest set: sha256 first, then sha512, then whatever comes first. */
export function primaryDigest(d: Record<string, string> | undefined): string | undefined {
  if (!d) return undefined;
  for (const alg of ["sha256", "sha512", "sha384", "sha1"]) {
    const v = d[alg];
    if (v) return normalizeDigest(`${alg}:${v}`);
  }
  for (const [alg, v] of Object.entries(d)) {
    const n = normalizeDigest(`${alg.toLowerCase()}:${v}`);
    if (n) return n;
  }
  return undefined;
}
