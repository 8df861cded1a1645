export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

// The registry writes this header, so it is hostile input: parsed by one left-to-right scan (a global regex over
// `\w+=` restarted at every position of a long word is quadratic).
export function parseWwwAuthenticate(header: string): Challenge | null {
  const isWord = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
  const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
  let i = 0;
  const n = header.length;
  while (i < n && isSpace(header.charCodeAt(i))) i++;
  const schemeStart = i;
  while (i < n && isWord(header.charCodeAt(i))) i++;
  // A bare scheme (`Basic`) is a challenge too; otherwise the scheme ends at white space.
  if (i === schemeStart || (i < n && !isSpace(header.charCodeAt(i)))) return null;
  const scheme = header.slice(schemeStart, i).toLowerCase();
  const params: Record<string, string> = {};
  while (i < n) {
    // Next `key=`: a run of word characters directly followed by "=".
    const c = header.charCodeAt(i);
    if (!isWord(c)) {
      i++;
      continue;
    }
    const keyStart = i;
    while (i < n && isWord(header.charCodeAt(i))) i++;
    if (header.charCodeAt(i) !== 61 /* = */) continue;
    const key = header.slice(keyStart, i).toLowerCase();
    i++;
    if (header.charCodeAt(i) === 34 /* " */) {
      const end = header.indexOf('"', i + 1);
      if (end >= 0) {
        params[key] = header.slice(i + 1, end);
        i = end + 1;
        continue;
      }
    }
    const valueStart = i;
    while (i < n && header.charCodeAt(i) !== 44 && !isSpace(header.charCodeAt(i))) i++;
    params[key] = header.slice(valueStart, i);
  }
  return { scheme, params };
}
