/**
 * Alpine (apk) version ordering, after apk-tools' version.c (Gentoo-style versions):
 * `digits{.digits}[letter]{_suffix[digits]}[-r<revision>]`.
 *
 * - Numbers compare numerically, except a component after a dot with leading zeros compares as a fraction
 *   (1.02 < 1.1).
 * - A letter directly after the number makes it newer: 1.2.3 < 1.2.3a.
 * - Suffixes: _alpha < _beta < _pre < _rc < (no suffix) < _cvs < _svn < _git < _hg < _p, each with a number.
 * - The revision -rN comes last: 1.2.3_rc1 < 1.2.3 < 1.2.3-r1 < 1.2.3.1.
 */

const enum T {
  INVALID = -1,
  DIGIT_OR_ZERO = 0,
  DIGIT = 1,
  LETTER = 2,
  SUFFIX = 3,
  SUFFIX_NO = 4,
  REVISION_NO = 5,
  END = 6,
}

const PRE_SUFFIXES = ["alpha", "beta", "pre", "rc"];
const POST_SUFFIXES = ["cvs", "svn", "git", "hg", "p"];

class Cursor {
  pos = 0;
  constructor(readonly s: string) {}
  get len(): number {
    return this.s.length - this.pos;
  }
  at(k = 0): string | undefined {
    return this.s[this.pos + k];
  }
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isLower = (c: string | undefined) => c !== undefined && c >= "a" && c <= "z";

function nextToken(type: T, c: Cursor): T {
  let n: T = T.INVALID;
  const ch = c.at();
  if (c.len <= 0) n = T.END;
  else if ((type === T.DIGIT || type === T.DIGIT_OR_ZERO) && isLower(ch)) n = T.LETTER;
  else if (type === T.LETTER && isDigit(ch)) n = T.DIGIT;
  else if (type === T.SUFFIX && isDigit(ch)) n = T.SUFFIX_NO;
  else {
    if (ch === ".") n = T.DIGIT_OR_ZERO;
    else if (ch === "_") n = T.SUFFIX;
    else if (ch === "-") {
      if (c.len > 1 && c.at(1) === "r") {
        n = T.REVISION_NO;
        c.pos++;
      } else n = T.INVALID;
    }
    c.pos++;
  }
  // Tokens only go forward (digits, letter, suffixes, revision), with these exceptions.
  if (n < type) {
    const ok = (n === T.DIGIT_OR_ZERO && type === T.DIGIT) || (n === T.SUFFIX && type === T.SUFFIX_NO) || (n === T.DIGIT && type === T.LETTER);
    if (!ok) n = T.INVALID;
  }
  return n;
}

/** Reads one token of the given type; returns its value and the type of the next token. */
function getToken(type: T, c: Cursor): [number, T] {
  if (c.len <= 0) return [0, T.END];
  let v = 0;
  let i = 0;
  let nt: T = T.INVALID;
  const s = c.s;
  const p = c.pos;
  switch (type) {
    case T.DIGIT_OR_ZERO:
      // Leading zeros after a dot: the component compares as a fraction (1.02 < 1.1).
      if (s[p] === "0") {
        while (i < c.len && s[p + i] === "0") i++;
        nt = T.DIGIT;
        v = -i;
        break;
      }
    // falls through
    case T.DIGIT:
    case T.SUFFIX_NO:
    case T.REVISION_NO:
      while (i < c.len && isDigit(s[p + i])) {
        v = v * 10 + (s.charCodeAt(p + i) - 48);
        i++;
      }
      break;
    case T.LETTER:
      v = s.charCodeAt(p);
      i = 1;
      break;
    case T.SUFFIX: {
      const pre = PRE_SUFFIXES.findIndex((x) => s.startsWith(x, p));
      if (pre >= 0) {
        i = PRE_SUFFIXES[pre]!.length;
        v = pre - PRE_SUFFIXES.length;
        nt = T.SUFFIX_NO;
        break;
      }
      const post = POST_SUFFIXES.findIndex((x) => s.startsWith(x, p));
      if (post >= 0) {
        i = POST_SUFFIXES[post]!.length;
        v = post;
        nt = T.SUFFIX_NO;
        break;
      }
      return [-1, T.INVALID];
    }
    default:
      return [-1, T.INVALID];
  }
  c.pos += i;
  if (c.len <= 0) return [v, T.END];
  if (nt !== T.INVALID) return [v, nt];
  return [v, nextToken(type, c)];
}

export function compareApk(a: string, b: string): number {
  const ca = new Cursor(a.trim());
  const cb = new Cursor(b.trim());
  let at: T = T.DIGIT;
  let bt: T = T.DIGIT;
  let av = 0;
  let bv = 0;
  while (at === bt && at !== T.END && at !== T.INVALID && av === bv) {
    [av, at] = getToken(at, ca);
    [bv, bt] = getToken(bt, cb);
  }
  if (av < bv) return -1;
  if (av > bv) return 1;
  if (at === bt) return 0;
  // Equal so far: the longer version is newer, unless what it has more is a pre-release suffix.
  if (at === T.SUFFIX && getToken(at, ca)[0] < 0) return -1;
  if (bt === T.SUFFIX && getToken(bt, cb)[0] < 0) return 1;
  if (at > bt) return -1;
  if (bt > at) return 1;
  return 0;
}
