import "server-only";
import { AppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { parseDigestReference } from "../../oci/reference";

/**
 * `/images/team/app@sha256:…[/sub/path]` arrives as path segments; the repository may contain `/`.
 * Returns the image reference and whatever follows it (e.g. ["evidence"]).
 */
export function imageRefFromSegments(segments: string[]) {
  const decoded = segments.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      // A malformed escape (`%E0%A4%A`, a lone `%`) is the caller's mistake, not a server error.
      throw new AppError("INVALID_INPUT", "image reference: malformed URL escape", "reference");
    }
  });
  const at = decoded.findIndex((s) => s.includes("@"));
  const ref = (at >= 0 ? decoded.slice(0, at + 1) : decoded).join("/");
  try {
    return { ...parseDigestReference(ref), rest: at >= 0 ? decoded.slice(at + 1) : [] };
  } catch (e) {
    if (e instanceof OciError) throw new AppError("INVALID_INPUT", e.message, "reference");
    throw e;
  }
}

export function imagePath(repository: string, digest: string, registry?: string | null): string {
  return `/images/${repository}@${digest}${registry ? `?registry=${encodeURIComponent(registry)}` : ""}`;
}
