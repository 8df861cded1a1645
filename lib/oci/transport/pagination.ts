import { OciError } from "../digest";

/**
 * `<target>; rel="next"` (or rel=next) in one element of a Link header, found with indexOf: the old unanchored
 * regex rescanned the rest of the element from every "<", quadratic on a hostile header.
 */
function linkTargetIfNext(part: string): string | null {
  const open = part.indexOf("<");
  if (open < 0) return null;
  const close = part.indexOf(">", open + 1);
  if (close <= open + 1) return null;
  const params = part
    .slice(close + 1)
    .split(";")
    .map((p) => p.trim())
    .filter(Boolean);
  const isNext = params.some((p) => {
    const eq = p.indexOf("=");
    if (eq < 0 || p.slice(0, eq).trim().toLowerCase() !== "rel") return false;
    const v = p.slice(eq + 1).trim();
    return (v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v).split(" ").includes("next");
  });
  return isNext ? part.slice(open + 1, close) : null;
}

/** Returns the rel="next" target of an RFC 8288 Link header, resolved against base. */
export function nextLink(header: string | null, base: string): string | null {
  if (!header) return null;
  for (const part of header.split(",")) {
    const target = linkTargetIfNext(part);
    if (target) {
      try {
        return new URL(target, base).toString();
      } catch {
        throw new OciError("BAD_RESPONSE", `Link header has an invalid URL: ${target.slice(0, 200)}`);
      }
    }
  }
  return null;
}

/**
 * The next page of a paginated listing. A target on another origin is refused (it would be fetched with our
 * network position and could leak pagination state), and so is a page already visited (a loop).
 */
export function nextPageUrl(linkHeader: string | null, current: string, origin: string, visited: Set<string>): string | null {
  const next = nextLink(linkHeader, current);
  if (!next) return null;
  const target = new URL(next);
  if (target.origin !== origin) throw new OciError("BAD_RESPONSE", `pagination link points to another origin (${target.origin}), refused`);
  if (visited.has(next)) throw new OciError("BAD_RESPONSE", `pagination loops at ${next}`);
  visited.add(next);
  return next;
}
