import { AppError } from "../../errors";

/**
 * Edge checks for strings that come from outside (JSON bodies, query strings, route params), run before zod and
 * before anything reaches Postgres. Postgres refuses U+0000 in text, so a NUL that got that far answered 500;
 * other C0/C1 controls make no sense in names, digests or references and only serve to spoof logs and UIs.
 * Every refusal is a 422 INVALID_INPUT naming the field.
 */

/** Body fields that hold free text or PEM/JSON text, where tab, line feed and carriage return are legitimate. */
const FREE_TEXT_FIELDS = new Set([
  "note",
  "comment",
  "reason",
  "description",
  "message",
  "publicKeyPem",
  "certificates",
  "trustedRoot",
  "pem",
  "password",
  "caBundle",
]);

/** Keys that would reach an object's prototype if the body were ever merged or spread into another object. */
const POISON_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Deeper than any body an API route accepts (a Sigstore trusted_root.json is under 10 levels). */
export const MAX_JSON_DEPTH = 32;

// Linear: one character class, no quantifier. C0 controls (minus what `allow` keeps), DEL and C1 controls.
const CONTROL_ANY = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_BUT_WHITESPACE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

function describe(s: string, allowWhitespace: boolean): string | null {
  if (s.includes("\u0000")) return "must not contain NUL (U+0000)";
  const m = (allowWhitespace ? CONTROL_BUT_WHITESPACE : CONTROL_ANY).exec(s);
  if (!m) return null;
  const cp = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
  return `must not contain control characters (found U+${cp}${allowWhitespace ? "" : "; line breaks and tabs are allowed only in free-text fields"})`;
}

function pathLabel(path: readonly (string | number)[]): string {
  return path.length ? path.map((p, i) => (typeof p === "number" ? `[${p}]` : i ? `.${p}` : p)).join("") : "body";
}

/**
 * Counts bracket nesting of a JSON text without parsing it (strings skipped), so a 1 MB `[[[[…` is refused before
 * JSON.parse recurses into it. Returns the maximum depth seen, or stops early once past `limit`.
 */
export function jsonNestingDepth(text: string, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Refuses a JSON text nested deeper than `maxDepth`, before it is parsed. */
export function assertJsonTextDepth(text: string, maxDepth = MAX_JSON_DEPTH): void {
  if (jsonNestingDepth(text, maxDepth) > maxDepth) throw new AppError("INVALID_INPUT", `body is nested deeper than ${maxDepth} levels`, "body");
}

/**
 * Walks a parsed JSON value: refuses prototype-poisoning keys, NUL and control characters in keys and strings
 * (tab/LF/CR allowed in free-text fields only), and nesting past `maxDepth`. Iterative, so depth cannot blow the stack.
 */
export function assertCleanJson(value: unknown, opts: { maxDepth?: number; skip?: (path: readonly (string | number)[]) => boolean } = {}): void {
  const maxDepth = opts.maxDepth ?? MAX_JSON_DEPTH;
  const stack: { v: unknown; path: (string | number)[]; freeText: boolean }[] = [{ v: value, path: [], freeText: false }];
  while (stack.length) {
    const { v, path, freeText } = stack.pop()!;
    // A value the route judges itself (ImageReview's pod-supplied strings), left out with everything under it.
    if (opts.skip?.(path)) continue;
    if (typeof v === "string") {
      const why = describe(v, freeText);
      if (why) throw new AppError("INVALID_INPUT", `${pathLabel(path)}: ${why}`, String(path[0] ?? "body"));
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    if (path.length >= maxDepth) throw new AppError("INVALID_INPUT", `${pathLabel(path)}: nested deeper than ${maxDepth} levels`, String(path[0] ?? "body"));
    if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push({ v: item, path: [...path, i], freeText }));
      continue;
    }
    for (const key of Object.keys(v)) {
      const at = pathLabel([...path, key]);
      if (POISON_KEYS.has(key)) throw new AppError("INVALID_INPUT", `${at}: the key "${key}" is not allowed`, String(path[0] ?? key));
      const why = describe(key, false);
      if (why) throw new AppError("INVALID_INPUT", `${pathLabel(path)}: a key ${why}`, String(path[0] ?? "body"));
      stack.push({ v: (v as Record<string, unknown>)[key], path: [...path, key], freeText: freeText || FREE_TEXT_FIELDS.has(key) });
    }
  }
}

/**
 * Refuses control characters in query parameter names and values (no query parameter is free text), and
 * parameters repeated past a sane count.
 */
export function assertCleanSearchParams(sp: URLSearchParams): void {
  let n = 0;
  for (const [k, v] of sp) {
    if (++n > 100) throw new AppError("INVALID_INPUT", "too many query parameters (over 100)", "query");
    const kw = describe(k, false);
    if (kw) throw new AppError("INVALID_INPUT", `query parameter name ${kw}`, "query");
    const vw = describe(v, false);
    if (vw) throw new AppError("INVALID_INPUT", `query parameter ${k}: ${vw}`, k);
  }
}

/**
 * Refuses control characters and undecodable escapes in route params. Next hands params over decoded; a segment
 * whose escape was malformed arrives still holding `%`, which is refused here rather than half-decoded later.
 */
export function assertCleanParams(params: unknown): void {
  if (!params || typeof params !== "object") return;
  for (const [name, raw] of Object.entries(params as Record<string, unknown>)) {
    const parts = Array.isArray(raw) ? raw : [raw];
    for (const p of parts) {
      if (typeof p !== "string") continue;
      const why = describe(p, false);
      if (why) throw new AppError("INVALID_INPUT", `path parameter ${name}: ${why}`, name);
      if (/%(?![0-9A-Fa-f]{2})/.test(p)) throw new AppError("INVALID_INPUT", `path parameter ${name}: malformed URL escape`, name);
    }
  }
}

/** Every edge check of a request that needs no body: query string and route params. */
export function assertCleanRequestLine(searchParams: URLSearchParams, params: unknown): void {
  assertCleanSearchParams(searchParams);
  assertCleanParams(params);
}

/** Awaits a route's params (a malformed escape can make decoding throw) and checks them and the query string. */
export async function readCleanParams<P>(params: Promise<P>, searchParams: URLSearchParams): Promise<P> {
  let p: P;
  try {
    p = await params;
  } catch (e) {
    if (e instanceof URIError) throw new AppError("INVALID_INPUT", "path: malformed URL escape", "path");
    throw e;
  }
  assertCleanRequestLine(searchParams, p);
  return p;
}

/** Decodes a body as UTF-8, refusing invalid sequences instead of silently turning them into U+FFFD. */
export function decodeUtf8Strict(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new AppError("BAD_REQUEST", "body is not valid UTF-8", "body");
  }
}

/** Deeper than any real SBOM, scan or attestation (CycloneDX component trees are a few levels deep). */
export const MAX_DOCUMENT_DEPTH = 256;

/**
 * Checks an uploaded or fetched JSON document before it is parsed and stored, in one linear pass over the bytes
 * (the structural characters are ASCII, so UTF-8 needs no decoding): nesting past MAX_DOCUMENT_DEPTH (a recursive
 * parser would overflow the stack), NUL as a raw byte or a `\u0000` escape (Postgres refuses it in text
 * columns), and `__proto__` keys.
 */
export function assertStorableDocument(bytes: Uint8Array, maxDepth = MAX_DOCUMENT_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c === 0) throw new AppError("INVALID_INPUT", `the document contains a NUL byte (at byte ${i}), which cannot be stored`, "body");
    if (inString) {
      if (c === 0x5c) {
        // \u0000 (any case of hex digits is "0" anyway)
        if (bytes[i + 1] === 0x75 && bytes[i + 2] === 0x30 && bytes[i + 3] === 0x30 && bytes[i + 4] === 0x30 && bytes[i + 5] === 0x30) {
          throw new AppError("INVALID_INPUT", `the document contains a NUL character (\\u0000 at byte ${i}), which cannot be stored`, "body");
        }
        i++;
      } else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      // "__proto__" as a key: the closing quote and, after optional whitespace, a colon.
      if (bytes[i + 10] === 0x22 && Buffer.from(bytes.subarray(i + 1, i + 10)).toString("latin1") === "__proto__") {
        let j = i + 11;
        while (bytes[j] === 0x20 || bytes[j] === 0x09 || bytes[j] === 0x0a || bytes[j] === 0x0d) j++;
        if (bytes[j] === 0x3a) throw new AppError("INVALID_INPUT", `the document has a "__proto__" key (at byte ${i})`, "body");
      }
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) throw new AppError("INVALID_INPUT", `the document is nested deeper than ${maxDepth} levels`, "body");
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

/** Refuses a NUL in any string (or key) of parsed data about to be stored; iterative, with the path in the message. */
export function assertNoNul(value: unknown, what = "the document"): void {
  const stack: { v: unknown; path: string }[] = [{ v: value, path: "" }];
  const seen = new Set<object>();
  while (stack.length) {
    const { v, path } = stack.pop()!;
    if (typeof v === "string") {
      if (v.includes("\u0000"))
        throw new AppError("INVALID_INPUT", `${what} contains a NUL character (U+0000)${path ? ` in ${path}` : ""}, which cannot be stored`, "body");
      continue;
    }
    if (v === null || typeof v !== "object" || seen.has(v) || ArrayBuffer.isView(v) || v instanceof Date) continue;
    seen.add(v);
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, path: `${path}[${i}]` }));
    else
      for (const [k, x] of Object.entries(v)) {
        if (k.includes("\u0000")) throw new AppError("INVALID_INPUT", `${what} contains a NUL character in a key${path ? ` under ${path}` : ""}`, "body");
        stack.push({ v: x, path: path ? `${path}.${k}` : k });
      }
  }
}
