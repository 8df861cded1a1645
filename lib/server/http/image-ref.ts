import "server-only";
import { AppError } from "../../errors";
import { OciError } from "../../oci/digest";
import { parseDigestReference } from "../../oci/reference";

/** `/images/team/app@sha256:…` arrives as path segments; the repository may contain `/`. */
export function imageRefFromSegments(segments: string[]) {
  const joined = segments.map((s) => decodeURIComponent(s)).join("/");
  try {
    return parseDigestReference(joined);
  } catch (e) {
    if (e instanceof OciError) throw new AppError("INVALID_INPUT", e.message, "reference");
    throw e;
  }
}

export function imagePath(repository: string, digest: string, registry?: string | null): string {
  return `/images/${repository}@${digest}${registry ? `?registry=${encodeURIComponent(registry)}` : ""}`;
}
