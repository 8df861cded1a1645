// Small display helpers shared by the promotion pages (server and client components alike).

/** The image page of a digest. The registry is always named: with several registries a bare path is ambiguous. */
export function imageHref(repository: string, digest: string, registry?: string | null): string {
  return `/images/${repository}@${digest}${registry ? `?registry=${encodeURIComponent(registry)}` : ""}`;
}

export function shortDigest(digest: string): string {
  return `sha256:${digest.replace(/^sha256:/, "").slice(0, 12)}`;
}

export function utc(iso: string | Date): string {
  return `${new Date(iso).toLocaleString("en-GB", { timeZone: "UTC" })} UTC`;
}

/** "3 min", "5 h", "2 d": how long ago, for lists. */
export function age(iso: string, now: Date = new Date()): string {
  const s = Math.max(0, (now.getTime() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86_400)} d`;
}

/** YYYY-MM-DD, days from today (UTC), for date inputs. */
export function dateInputValue(daysFromNow: number, now: Date = new Date()): string {
  return new Date(now.getTime() + daysFromNow * 86_400_000).toISOString().slice(0, 10);
}

/** A list typed into one field, split on commas and whitespace: "a, b\nc" → ["a", "b", "c"]. */
export function splitList(s: string): string[] {
  return s
    .split(/[\s,]+/)
    .map((x) => x.trim())
    .filter(Boolean);
}
