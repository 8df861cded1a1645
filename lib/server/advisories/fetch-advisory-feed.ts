import "server-only";
import { env } from "../../env";
import { AppError } from "../../errors";
import type { Actor } from "../actor";
import { kickReevaluation } from "../reevaluation/enqueue-reevaluation";
import { importAdvisories, type ImportAdvisoriesResult } from "./import-advisories";
import { guardedAgent, networkErrorMessage } from "../../oci/client";
import { OciError } from "../../oci/digest";
import { assertHostAllowed } from "../../oci/ssrf";

const MAX_REDIRECTS = 5;

/**
 * Every connection of a download, redirects included, resolves its host through the SSRF guard at connect time: the
 * URL is the operator's, but a redirect is the answering server's (or a DNS answer that changed), and it must not
 * turn the feed into a read of the cloud's instance metadata.
 */
const agent = guardedAgent();

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
  const deadline = AbortSignal.timeout(timeoutMs);
  let res: Response;
  for (let hops = 0; ; hops++) {
    // The operator's URL and every redirect target: a cloud metadata or link-local address is refused by name or
    // literal here (an IP literal never reaches the agent's DNS lookup), and by resolved address at connect time.
    try {
      await assertHostAllowed(u.hostname);
      res = await fetch(u, { redirect: "manual", signal: deadline, dispatcher: agent } as RequestInit);
    } catch (e) {
      if (e instanceof OciError && e.code === "BLOCKED_ADDRESS") throw new AppError("INVALID_INPUT", `${u.origin}: ${e.message}`, "url");
      throw new AppError("REGISTRY_UNAVAILABLE", `${u.origin}${u.pathname}: ${e instanceof OciError ? e.message : networkErrorMessage(e)}`);
    }
    const location = res.status >= 300 && res.status < 400 ? res.headers.get("location") : null;
    if (!location) break;
    await res.body?.cancel().catch(() => {});
    if (hops >= MAX_REDIRECTS) throw new AppError("REGISTRY_UNAVAILABLE", `more than ${MAX_REDIRECTS} redirects from ${u.origin}${u.pathname}`);
    let next: URL;
    try {
      next = new URL(location, u);
    } catch {
      throw new AppError("REGISTRY_UNAVAILABLE", `${u.origin}${u.pathname} redirected to an invalid URL`);
    }
    if (next.protocol !== "https:" && next.protocol !== "http:")
      throw new AppError("REGISTRY_UNAVAILABLE", `${u.origin}${u.pathname} redirected to a ${next.protocol} URL`);
    u = next;
  }
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
  // One bad record must not hold back every other advisory: it is refused alone, and named in the audit event.
  return importAdvisories({ actor: FEED, bytes, origin: url, onChanged: () => kickReevaluation(), skipBadRecords: true });
}
