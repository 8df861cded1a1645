import { z } from "zod";

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
      else
        out.push(
          `${where} should be ${issue.expected === "array" || issue.expected === "object" ? `an ${issue.expected}` : `a ${issue.expected}`}, not ${describe(actual)}`,
        );
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

/**
 * Parsing that can pause: a parser written as a generator yields between chunks of a large array, and the caller
 * either runs it straight through (runSync) or lets the event loop turn at each pause (runAsync), so one large
 * document does not stall every other request for its whole validation.
 */
export type Steps<T> = Generator<void, T, void>;

export function runSync<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Elements validated per step: a few milliseconds of work. */
export const STEP = 1000;

/**
 * Validates every element of `list` with `schema`, STEP elements per step, adding each bad field (with its index in
 * the whole list) to `issues`. Returns the parsed elements (only meaningful when no issue was added).
 */
export function* validateList<T extends z.ZodType>(
  schema: T,
  list: readonly unknown[],
  prefix: readonly PropertyKey[],
  issues: string[],
): Steps<z.output<T>[]> {
  const out: z.output<T>[] = [];
  const many = z.array(schema);
  for (let i = 0; i < list.length; i += STEP) {
    const r = many.safeParse(list.slice(i, i + STEP));
    if (r.success) out.push(...r.data);
    else {
      const shifted = r.error.issues.map(
        (is) => ({ ...is, path: typeof is.path[0] === "number" ? [is.path[0] + i, ...is.path.slice(1)] : is.path }) as z.core.$ZodIssue,
      );
      issues.push(...describeIssues(shifted, list, prefix));
    }
    if (i + STEP < list.length) yield;
  }
  return out;
}

/** Parses `input` with `schema`, or throws INVALID_DOCUMENT listing every bad field. */
export function parseWith<T extends z.ZodType>(format: string, schema: T, input: unknown, prefix: readonly PropertyKey[] = []): z.output<T> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw invalidDocument(format, describeIssues(r.error.issues, input, prefix));
}

/** C0 controls other than tab, LF and CR, and DEL. */
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/**
 * Refuses a document whose findings name a vulnerability or package with control characters. Those names are quoted
 * in gate details, revocation reasons, exports and webhooks; no scanner writes such ids, so one that does is hostile
 * or broken, and is refused as a whole with the finding it was found in (as the OSV import refuses them).
 */
export function assertFindingNames(findings: readonly { id: string; aliases: readonly string[]; package: string }[]): void {
  findings.forEach((f, i) => {
    const bad = CONTROL.test(f.id) ? "id" : f.aliases.some((a) => CONTROL.test(a)) ? "aliases" : CONTROL.test(f.package) ? "package" : null;
    if (bad) {
      const field = bad === "package" ? "package name" : `vulnerability ${bad === "id" ? "id" : "alias"}`;
      throw new EvidenceError("INVALID_DOCUMENT", `finding ${i + 1} (${JSON.stringify(f.id.slice(0, 80))}): its ${field} contains control characters`, [
        `findings[${i}].${bad}`,
      ]);
    }
  });
}
