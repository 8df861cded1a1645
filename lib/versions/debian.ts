/**
 * Debian version ordering (dpkg's verrevcmp, Debian Policy §5.6.12): `[epoch:]upstream[-revision]`.
 *
 * - The epoch (default 0) is compared first, as a number: 1:1.0 > 2.0.
 * - The revision is what follows the last hyphen; without one it compares as empty (equal to "0").
 * - Upstream and revision are compared as alternating non-digit and digit runs. In non-digit runs letters sort
 *   before non-letters, and `~` sorts before everything, even the end of the string: 1.0~rc1 < 1.0 < 1.0+b1.
 *   Digit runs compare numerically.
 */

interface DebVersion {
  epoch: bigint;
  upstream: string;
  revision: string;
}

export function parseDebian(v: string): DebVersion {
  const s = v.trim();
  const colon = s.indexOf(":");
  let epoch = 0n;
  let rest = s;
  if (colon > 0 && /^\d+$/.test(s.slice(0, colon))) {
    epoch = BigInt(s.slice(0, colon));
    rest = s.slice(colon + 1);
  }
  const hyphen = rest.lastIndexOf("-");
  return hyphen >= 0 ? { epoch, upstream: rest.slice(0, hyphen), revision: rest.slice(hyphen + 1) } : { epoch, upstream: rest, revision: "" };
}

const isDigit = (c: number) => c >= 48 && c <= 57;
const isAlpha = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** dpkg's order(): ~ below the end of the string, letters below other characters. */
function order(c: number | undefined): number {
  if (c === undefined || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 126 /* ~ */) return -1;
  return c + 256;
}

export function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(i < a.length ? a.charCodeAt(i) : undefined);
      const bc = order(j < b.length ? b.charCodeAt(j) : undefined);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 48) i++;
    while (b.charCodeAt(j) === 48) j++;
    while (i < a.length && isDigit(a.charCodeAt(i)) && j < b.length && isDigit(b.charCodeAt(j))) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (i < a.length && isDigit(a.charCodeAt(i))) return 1;
    if (j < b.length && isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

export function compareDebian(a: string, b: string): number {
  const x = parseDebian(a);
  const y = parseDebian(b);
  if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1;
  const r = verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
  return Math.sign(r);
}
