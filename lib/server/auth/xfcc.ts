import "server-only";

/** One key=value pair of an XFCC element; keys are case-insensitive and kept lower-cased. */
export type XfccPair = { key: string; value: string };
export type XfccParse = { ok: true; elements: XfccPair[][] } | { ok: false; reason: string };

export const XFCC_MAX_LENGTH = 16_384;

/** Keys a proxy writes once per element; a second one makes the element ambiguous. (URI and DNS repeat per SAN.) */
const SINGLE_KEYS = new Set(["by", "hash", "cert", "chain", "subject"]);

const isKeyChar = (c: number) =>
  (c >= 48 && c <= 57) /* 0-9 */ || (c >= 65 && c <= 90) /* A-Z */ || (c >= 97 && c <= 122) /* a-z */ || c === 45 /* - */ || c === 95; /* _ */

/**
 * Parses Envoy's x-forwarded-client-cert by its grammar: elements (one per proxy hop) separated by commas, key=value
 * pairs separated by semicolons, a value either bare (no `,` `;` `=` `"` `\`) or double-quoted with `\"` (any `\x`)
 * escapes. One left-to-right pass. Anything else is an error, never a best guess: the header is what decides who the
 * caller is, and a guess is what let a client's unclosed quote swallow the element its proxy appended.
 */
export function parseXfcc(header: string): XfccParse {
  const fail = (reason: string): XfccParse => ({ ok: false, reason });
  if (header.length > XFCC_MAX_LENGTH) return fail(`it is over ${XFCC_MAX_LENGTH} characters`);
  // Tab is the only control character a header may carry, and only as whitespace around separators.
  if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(header)) return fail("it holds a control character");
  const n = header.length;
  const elements: XfccPair[][] = [];
  let pairs: XfccPair[] = [];
  let i = 0;
  const skipWhitespace = () => {
    while (i < n && (header[i] === " " || header[i] === "\t")) i++;
  };
  for (;;) {
    skipWhitespace();
    const keyStart = i;
    while (i < n && isKeyChar(header.charCodeAt(i))) i++;
    if (i === keyStart) return fail(`a key is expected at character ${i + 1}`);
    const key = header.slice(keyStart, i).toLowerCase();
    if (header[i] !== "=") return fail(`"=" is expected after the key at character ${keyStart + 1}`);
    i++;
    let value: string;
    if (header[i] === '"') {
      const parts: string[] = [];
      let from = ++i;
      let closed = false;
      while (i < n) {
        const c = header[i];
        if (c === '"') {
          closed = true;
          break;
        }
        if (c === "\\") {
          // An escape takes the next character as is; a backslash that ends the header escapes nothing.
          if (i + 1 >= n) break;
          parts.push(header.slice(from, i), header[i + 1]!);
          i += 2;
          from = i;
        } else i++;
      }
      if (!closed) return fail(`the value of the key at character ${keyStart + 1} opens a quote that is never closed`);
      parts.push(header.slice(from, i));
      i++; // the closing quote
      value = parts.join("");
    } else {
      const from = i;
      while (i < n && header[i] !== ";" && header[i] !== ",") {
        const c = header[i];
        if (c === '"' || c === "=" || c === "\\") return fail(`an unquoted value holds ${c} at character ${i + 1}`);
        i++;
      }
      value = header.slice(from, i).trimEnd();
    }
    if (SINGLE_KEYS.has(key) && pairs.some((p) => p.key === key)) return fail(`an element names ${header.slice(keyStart, keyStart + key.length)} twice`);
    pairs.push({ key, value });
    skipWhitespace();
    if (i >= n) {
      elements.push(pairs);
      return { ok: true, elements };
    }
    if (header[i] === ",") {
      elements.push(pairs);
      pairs = [];
    } else if (header[i] !== ";") return fail(`"," or ";" is expected at character ${i + 1}`);
    i++;
  }
}
