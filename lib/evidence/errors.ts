import type { z } from "zod";

export type EvidenceErrorCode = "MALFORMED_JSON" | "UNKNOWN_FORMAT" | "INVALID_DOCUMENT" | "TOO_LARGE";

/**
 * Why a document was refused. `message` names what is wrong in words a person uploading the file understands
 * ("CycloneDX: components[3].name is missing"); `issues` lists every bad field found.
 */
export class EvidenceError extends Error {
  readonly code: EvidenceErrorCode;
  readonly issues: string[];

  constructor(code: EvidenceErrorCode, message: string, issues: string[] = []) {
    super(message);
    this.name = "EvidenceError";
    this.code = code;
    this.issues = issues;
  }
}

const MAX_LISTED = 10;
const MAX_ISSUES = 100;

/** `components[3].name` */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else {
      const k = String(p);
      s += /^[A-Za-z_$][\w$-]*$/.test(k) ? (s ? `.${k}` : k) : `[${JSON.stringify(k)}]`;
    }
  }
  return s || "(document)";
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  return `a ${typeof v}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = Object.prototype.hasOwnProperty.call(v, p) ? (v as Record<PropertyKey, unknown>)[p] : undefined;
  }
  return v;
}

/** One line per zod issue, worded from the input itself ("is missing", "should be a string, not a number"). */
export function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown, prefix: readonly PropertyKey[] = []): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (out.length >= MAX_ISSUES) break;
    const path = [...prefix, ...issue.path];
    const where = formatPath(path);
    if (issue.code === "invalid_type") {
      const actual = valueAt(input, issue.path);
      if (actual === undefined) out.push(`${where} is missing`);
      else out.push(`${where} should be ${issue.expected === "array" || issue.expected === "object" ? `an ${issue.expected}` : `a ${issue.expected}`}, not ${describe(actual)}`);
    } else if (issue.code === "invalid_union" && issue.errors.length) {
      out.push(`${where} has an unexpected shape`);
    } else {
      out.push(`${where}: ${issue.message}`);
    }
  }
  return out;
}

export function invalidDocument(format: string, issues: string[]): EvidenceError {
  const listed = issues.slice(0, MAX_LISTED).join("; ");
  const more = issues.length > MAX_LISTED ? ` (and ${issues.length - MAX_LISTED} more)` : "";
  return new EvidenceError("INVALID_DOCUMENT", `${format}: ${listed}${more}`, issues);
}

/** Parses `input` with `schema`, or throws INVALID_DOCUMENT listing every bad field. */
export function parseWith<T extends z.ZodType>(format: string, schema: T, input: unknown, prefix: readonly PropertyKey[] = []): z.output<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw invalidDocument(format, describeIssues(r.error.issues, input, prefix));
}
