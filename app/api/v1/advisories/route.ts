import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { importAdvisories } from "@/lib/server/advisories/import-advisories";
import { listAdvisories } from "@/lib/server/advisories/list-advisories";
import { apiHandler, created } from "@/lib/server/http/api-handler";
import { readBodyCapped } from "@/lib/server/http/read-body";
import { kickReevaluation } from "@/lib/server/reevaluation/enqueue-reevaluation";

export const dynamic = "force-dynamic";

/** GET /api/v1/advisories[?q=GHSA-…|CVE-…|text][&page=N] */
export const GET = apiHandler(async ({ req, actor }) => {
  const sp = req.nextUrl.searchParams;
  const page = sp.get("page");
  if (page && !/^\d{1,6}$/.test(page)) throw new AppError("INVALID_INPUT", "page must be a number", "page");
  return listAdvisories({ actor, q: sp.get("q") ?? undefined, page: page ? Number(page) : 1 });
});

const TYPES = ["application/json", "application/zip", "application/x-zip-compressed", "application/octet-stream"];

/**
 * POST /api/v1/advisories: one OSV record, a JSON array of records, or an osv.dev ecosystem ZIP as the body.
 * Answers the counts (created, updated, unchanged, skipped with their ecosystems, findings, images).
 */
export const POST = apiHandler(
  async ({ req, actor }) => {
    const ct = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!TYPES.includes(ct)) throw new AppError("BAD_REQUEST", `send the records as ${TYPES.join(", ")}`, "content-type");
    const bytes = await readBodyCapped(req, env().ADVISORY_MAX_BYTES);
    const r = await importAdvisories({ actor, bytes, origin: "upload", onChanged: () => kickReevaluation() });
    return created(r);
  },
  { roles: ["admin", "reviewer"], what: "importing advisories", bodyTypes: "archive" },
);
