import type { Platform } from "../oci/manifest";

/** One platform of an index: its name ("linux/arm64") and the digests that identify it (manifest, config). */
export interface PlatformSubjects {
  name: string;
  digests: ReadonlySet<string>;
}

/** A counted scan of the index: the subject it recorded (ingest-evidence.ts keeps the most specific one) and its time. */
export interface IndexScan {
  subjectDigest: string | null;
  at: Date;
}

/**
 * Attestation manifests run nowhere: they are not platforms a scan must cover. Only an entry the index marks as one the
 * way buildx does (lib/oci/manifest.ts isAttestationEntry, recorded at sync as `attestation`) is one; an entry merely
 * labelled unknown/unknown, or with no platform, can run when pulled by digest, and needs a scan like any platform.
 */
export function isRunnablePlatform(p: Pick<Platform, "attestation">): boolean {
  return p.attestation !== true;
}

/** "linux/arm64/v8"; an entry that states no platform (unknown/unknown) is named by its digest. */
export function platformName(p: Pick<Platform, "os" | "architecture" | "variant"> & { digest?: string }): string {
  if (p.digest && p.os === "unknown" && p.architecture === "unknown") return `${p.digest} (no platform stated)`;
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** The runnable platforms of an index with the digests that name each: its manifest, and the config of its synced image. */
export function indexPlatformSubjects(
  platforms: readonly Platform[],
  children: readonly { digest: string; configDigest: string | null }[],
): PlatformSubjects[] {
  const configOf = new Map(children.map((c) => [c.digest, c.configDigest]));
  return platforms.filter(isRunnablePlatform).map((p) => {
    const config = configOf.get(p.digest);
    return { name: platformName(p), digests: new Set(config ? [p.digest, config] : [p.digest]) };
  });
}

/**
 * Which platforms of an index no scan covers, and the scan age of the index: the newest covering scan of its least
 * recently scanned platform. A scan covers a platform when it names that platform's manifest or config; a scan that
 * names the index itself, or names nothing (filed on the index by an uploader the rules allow), covers the index as
 * a whole. A scan of one platform never vouches for another: Trivy scans one platform of an index, the host's.
 */
export function platformScanCoverage(
  indexDigest: string,
  platforms: readonly PlatformSubjects[],
  scans: readonly IndexScan[],
): { uncovered: string[]; stalestAt: Date | null } {
  const uncovered: string[] = [];
  let stalestAt: Date | null = null;
  for (const p of platforms) {
    let newest: Date | null = null;
    for (const s of scans) {
      const covers = s.subjectDigest === null || s.subjectDigest === indexDigest || p.digests.has(s.subjectDigest);
      if (covers && (!newest || s.at > newest)) newest = s.at;
    }
    if (!newest) uncovered.push(p.name);
    else if (!stalestAt || newest < stalestAt) stalestAt = newest;
  }
  return { uncovered: [...new Set(uncovered)], stalestAt: uncovered.length ? null : stalestAt };
}
