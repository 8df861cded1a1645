import { env } from "@/lib/env";
import { AppError } from "@/lib/errors";
import { importAdvisories } from "@/lib/server/advisories/import-advisories";
import { listAdvisories } from "@/lib/server/advisories/list-advisories";
import { apiHandler, created } from "@/lib/server/http/api-handler";
import { advisoriesQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";
import { readBodyCapped } from "@/lib/server/http/read-body";
import { kickReevaluation } from "@/lib/server/reevaluation/enqueue-reevaluation";

export const dynamic = "force-dynamic";

/** GET /api/v1/advisories[?q=GHSA-…|CVE-…|text][&page=N] */
export const GET = apiHandler(async ({ req, actor }) => {
  const { q, page } = parseQuery(req.nextUrl.searchParams, advisoriesQuery);
  return listAdvisories({ actor, q, page: page ? Number(page) : 1 });
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
