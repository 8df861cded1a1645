/**
 * RPM version ordering: `[epoch:]version[-release]`, each part compared with rpm's rpmvercmp (rpm ≥ 4.15).
 *
 * - Epoch first (missing = 0), then version, then release: 1.0-1.el8 < 1.0-2.el8, 1:1.0 > 2.0.
 * - rpmvercmp splits into alphanumeric runs and ignores other characters; digit runs compare numerically
 *   and are newer than letter runs (1.0.1 > 1.0.a); letter runs compare as ASCII strings.
 * - `~` sorts before anything, even the end (1.0~rc1 < 1.0); `^` sorts after the end but before anything else
 *   (1.0 < 1.0^git1 < 1.0.1).
 * - When only one side has a release (a bare version in a query), releases are not compared, as dnf does:
 *   `openssl < 3.0.7` does not match 3.0.7-1.el9.
 */

interface Evr {
  epoch: bigint;
  version: string;
  release?: string;
}

export function parseEvr(v: string): Evr {
  const s = v.trim();
  let epoch = 0n;
  let rest = s;
  const colon = s.indexOf(":");
  if (colon > 0 && /^\d+$/.test(s.slice(0, colon))) {
    epoch = BigInt(s.slice(0, colon));
    rest = s.slice(colon + 1);
  }
  const hyphen = rest.lastIndexOf("-");
  return hyphen >= 0 ? { epoch, version: rest.slice(0, hyphen), release: rest.slice(hyphen + 1) } : { epoch, version: rest };
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isAlpha = (c: string | undefined) => c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z"));
const isAlnum = (c: string | undefined) => isDigit(c) || isAlpha(c);

export function rpmvercmp(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    while (i < a.length && !isAlnum(a[i]) && a[i] !== "~" && a[i] !== "^") i++;
    while (j < b.length && !isAlnum(b[j]) && b[j] !== "~" && b[j] !== "^") j++;

    // Tilde: sorts before everything else.
    if (a[i] === "~" || b[j] === "~") {
      if (a[i] !== "~") return 1;
      if (b[j] !== "~") return -1;
      i++;
      j++;
      continue;
    }
    // Caret: like the end of the string, but newer than it; older than anything else.
    if (a[i] === "^" || b[j] === "^") {
      if (i >= a.length) return -1;
      if (j >= b.length) return 1;
      if (a[i] !== "^") return 1;
      if (b[j] !== "^") return -1;
      i++;
      j++;
      continue;
    }
    if (!(i < a.length && j < b.length)) break;

    const si = i;
    const sj = j;
    const numeric = isDigit(a[i]);
    if (numeric) {
      while (isDigit(a[i])) i++;
      while (isDigit(b[j])) j++;
    } else {
      while (isAlpha(a[i])) i++;
      while (isAlpha(b[j])) j++;
    }
    // b's run is of the other kind: a number is newer than letters.
    if (sj === j) return numeric ? 1 : -1;

    let x = a.slice(si, i);
    let y = b.slice(sj, j);
    if (numeric) {
      x = x.replace(/^0+/, "");
      y = y.replace(/^0+/, "");
      if (x.length !== y.length) return x.length > y.length ? 1 : -1;
    }
    if (x !== y) return x < y ? -1 : 1;
  }
  if (i >= a.length && j >= b.length) return 0;
  return i >= a.length ? -1 : 1;
}

export function compareRpm(a: string, b: string): number {
  const x = parseEvr(a);
  const y = parseEvr(b);
  if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1;
  const v = rpmvercmp(x.version, y.version);
  if (v !== 0) return v;
  if (x.release === undefined || y.release === undefined) return 0;
  return rpmvercmp(x.release, y.release);
}
