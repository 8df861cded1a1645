/**
 * Maven version ordering: the algorithm of Maven's ComparableVersion (maven-artifact 3.x, Apache-2.0), as
 * ported by go-mvn-version, which Trivy and Grype use, so a range matches what the scanners would say.
 *
 * - Separators `.` and `-`; a change between digits and letters is a separator too, and `-` (or such a change)
 *   opens a sub-list: `1.0-alpha1` → [1, [alpha, [1]]] after normalizing.
 * - Trailing "null" items (0, "", ga, final, release) are dropped in each list: 1 == 1.0 == 1.0.0 == 1-ga.
 * - Qualifiers: alpha (a1) < beta (b1) < milestone (m1) < rc = cr < snapshot < "" = ga = final = release < sp,
 *   then any other string, case-insensitively, in lexical order.
 * - A number is above any qualifier or sub-list at the same place: 1.1 > 1-1 > 1-sp > 1 > 1-rc.
 *
 * `release` as an alias of the release qualifier comes from Maven 3.9 (Spring's 5.3.18.RELEASE == 5.3.18).
 * Maven 3.9 also reworked letter-digit combinations (`1.0.RC1` vs `1.0-RC1`); that change is not followed, as
 * the scanners do not follow it either.
 */

import { table } from "./lookup";

type Item = { t: "int"; v: bigint } | { t: "str"; v: string } | { t: "list"; items: Item[] };

const QUALIFIERS = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const ALIASES: Record<string, string> = table({ ga: "", final: "", release: "", cr: "rc" });
const RELEASE_INDEX = String(QUALIFIERS.indexOf(""));

function comparableQualifier(q: string): string {
  const i = QUALIFIERS.indexOf(q);
  return i === -1 ? `${QUALIFIERS.length}-${q}` : String(i);
}

function strItem(value: string, followedByDigit: boolean): Item {
  let v = value;
  if (followedByDigit && v.length === 1) {
    // a1 = alpha-1, b1 = beta-1, m1 = milestone-1
    if (v === "a") v = "alpha";
    else if (v === "b") v = "beta";
    else if (v === "m") v = "milestone";
  }
  return { t: "str", v: ALIASES[v] ?? v };
}

function parseItem(isDigit: boolean, buf: string): Item {
  return isDigit ? { t: "int", v: BigInt(buf) } : strItem(buf, false);
}

function isNull(item: Item): boolean {
  switch (item.t) {
    case "int":
      return item.v === 0n;
    case "str":
      return comparableQualifier(item.v) === RELEASE_INDEX;
    case "list":
      return item.items.length === 0;
  }
}

function normalize(list: Item[]): void {
  for (let i = list.length - 1; i >= 0; i--) {
    const last = list[i]!;
    if (isNull(last)) list.splice(i, 1);
    else if (last.t !== "list") break;
  }
}

const cmpStr = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function compareItem(a: Item, b: Item | null): number {
  switch (a.t) {
    case "int":
      if (!b) return a.v === 0n ? 0 : 1;
      if (b.t === "int") return a.v < b.v ? -1 : a.v > b.v ? 1 : 0;
      return 1; // 1.1 > 1-sp, 1.1 > 1-1
    case "str":
      if (!b) return cmpStr(comparableQualifier(a.v), RELEASE_INDEX); // 1-rc < 1, 1-sp > 1
      if (b.t === "str") return cmpStr(comparableQualifier(a.v), comparableQualifier(b.v));
      return -1; // 1.any < 1.1, 1.any < 1-1
    case "list": {
      if (!b) {
        // The whole list against nothing, not only its first item (MNG-6964).
        for (const item of a.items) {
          const r = compareItem(item, null);
          if (r !== 0) return r;
        }
        return 0;
      }
      if (b.t === "int") return -1; // 1-1 < 1.0.x
      if (b.t === "str") return 1; // 1-1 > 1-sp
      const n = Math.max(a.items.length, b.items.length);
      for (let i = 0; i < n; i++) {
        const l = a.items[i] ?? null;
        const r = b.items[i] ?? null;
        const result = l === null ? (r === null ? 0 : -compareItem(r, null)) : compareItem(l, r);
        if (result !== 0) return result;
      }
      return 0;
    }
  }
}

const DIGIT = /[0-9]/;

export function parseMaven(version: string): Item {
  const root: Item[] = [];
  let list = root;
  const stack: Item[][] = [root];
  const v = version.toLowerCase();
  let isDigit = false;
  let start = 0;
  const open = () => {
    const sub: Item[] = [];
    list.push({ t: "list", items: sub });
    list = sub;
    stack.push(sub);
  };
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c === "." || c === "-") {
      list.push(i === start ? { t: "int", v: 0n } : parseItem(isDigit, v.slice(start, i)));
      start = i + 1;
      if (c === "-") open();
    } else if (DIGIT.test(c)) {
      if (!isDigit && i > start) {
        list.push(strItem(v.slice(start, i), true));
        start = i;
        open();
      }
      isDigit = true;
    } else {
      if (isDigit && i > start) {
        list.push(parseItem(true, v.slice(start, i)));
        start = i;
        open();
      }
      isDigit = false;
    }
  }
  if (v.length > start) list.push(parseItem(isDigit, v.slice(start)));
  while (stack.length) normalize(stack.pop()!);
  return { t: "list", items: root };
}

export function compareMaven(a: string, b: string): number {
  const r = compareItem(parseMaven(a), parseMaven(b));
  return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/** Maven's canonical form of a version (`1.0-alpha-1` → `1-alpha-1`), for tests and display. */
export function canonicalMaven(version: string): string {
  const str = (item: Item): string => {
    if (item.t === "int") return item.v.toString();
    if (item.t === "str") return item.v;
    let s = "";
    for (const it of item.items) {
      if (s) s += it.t === "list" ? "-" : ".";
      s += str(it);
    }
    return s;
  };
  return str(parseMaven(version));
}
