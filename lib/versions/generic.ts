/**
 * The fallback ordering for ecosystems without rules of their own (and for versions an ecosystem's parser
 * refuses): a leading "v" is ignored, the version is split into runs of digits and of letters (other characters
 * only separate), digit runs compare as numbers, letter runs case-insensitively, a number is newer than letters
 * at the same place, and a version that goes on is newer, unless what follows is a pre-release word
 * (1.0 < 1.0.1, 1.0-rc1 < 1.0, 1.0 < 1.0-sp1).
 */

const PRE_RELEASE = new Set(["a", "alpha", "b", "beta", "c", "cr", "dev", "m", "milestone", "pre", "preview", "rc", "snapshot", "ea", "nightly"]);

function tokens(v: string): string[] {
  return (
    v
      .trim()
      .replace(/^v(?=\d)/i, "")
      .toLowerCase()
      .match(/\d+|[a-z]+/g) ?? []
  );
}

const isNum = (t: string) => t.charCodeAt(0) >= 48 && t.charCodeAt(0) <= 57;

function cmpNum(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, "");
  const y = b.replace(/^0+(?=\d)/, "");
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

export function compareGeneric(a: string, b: string): number {
  const x = tokens(a);
  const y = tokens(b);
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const p = x[i];
    const q = y[i];
    if (p === undefined) return PRE_RELEASE.has(q!) ? 1 : -1;
    if (q === undefined) return PRE_RELEASE.has(p) ? -1 : 1;
    const pn = isNum(p);
    const qn = isNum(q);
    if (pn && qn) {
      const r = cmpNum(p, q);
      if (r) return r;
    } else if (pn !== qn) {
      return pn ? 1 : -1;
    } else if (p !== q) {
      const pp = PRE_RELEASE.has(p);
      const qp = PRE_RELEASE.has(q);
      if (pp !== qp) return pp ? -1 : 1;
      return p < q ? -1 : 1;
    }
  }
  return 0;
}
