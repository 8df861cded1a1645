import "server-only";
import { env } from "../../env";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { kickReevaluation } from "../reevaluation/enqueue-reevaluation";
import { importAdvisories, type ImportAdvisoriesResult } from "./import-advisories";

const FEED: Actor = { kind: "system", label: "advisory-feed" };

/**
 * Reads an advisory source (an https URL: osv.dev's per-ecosystem all.zip, a JSON array or one record) with a
 * timeout and the import's size cap, refusing while streaming when it grows past the cap.
 */
export async function downloadAdvisories(
  url: string,
  { max = env().ADVISORY_MAX_BYTES, timeoutMs = 120_000 }: { max?: number; timeoutMs?: number } = {},
): Promise<Buffer> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError("INVALID_INPUT", `${url.slice(0, 200)} is not a URL`, "url");
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new AppError("INVALID_INPUT", "the advisory source must be an http(s) URL", "url");
  const res = await fetch(u, { redirect: "follow", signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok || !res.body) throw new AppError("REGISTRY_UNAVAILABLE", `${u.origin}${u.pathname} answered HTTP ${res.status}`);
  const declared = Number(res.headers.get("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > max)
    throw new AppError("PAYLOAD_TOO_LARGE", `${u.pathname} is ${declared} bytes, over the ${max}-byte limit (ADVISORY_MAX_BYTES)`);
  const chunks: Buffer[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      throw new AppError("PAYLOAD_TOO_LARGE", `${u.pathname} exceeds the ${max}-byte limit (ADVISORY_MAX_BYTES)`);
    }
    chunks.push(Buffer.from(value));
  }
  return Buffer.concat(chunks, total);
}

/**
 * The scheduled fetch of ADVISORY_FEED_URL (connected installs). Called on every scheduler tick: pg-boss's
 * singleton throttle (state in Postgres) lets one fetch job through per ADVISORY_FEED_INTERVAL_HOURS across all
 * replicas; the job downloads and imports (see runAdvisoryFeed).
 */
export async function fetchAdvisoryFeed(_: { now?: Date } = {}): Promise<void> {
  const e = env();
  if (!e.ADVISORY_FEED_URL) return;
  const { getBoss, QUEUES } = await import("../jobs/boss");
  const boss = await getBoss();
  await boss.send(QUEUES.advisoryFeed, {}, { singletonKey: "advisory-feed", singletonSeconds: e.ADVISORY_FEED_INTERVAL_HOURS * 3600 });
}

/** Downloads ADVISORY_FEED_URL and imports it, as the system actor "advisory-feed" (audited as advisory.import). */
export async function runAdvisoryFeed(): Promise<ImportAdvisoriesResult | null> {
  const url = env().ADVISORY_FEED_URL;
  if (!url) return null;
  const bytes = await downloadAdvisories(url);
  return importAdvisories({ actor: FEED, bytes, origin: url, onChanged: () => kickReevaluation() });
}
