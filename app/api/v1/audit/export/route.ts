import { AppError } from "@/lib/errors";
import { parseAuditQuery } from "@/lib/server/audit/audit-filter";
import { exportAuditEvents } from "@/lib/server/audit/export-audit-events";
import { apiHandler } from "@/lib/server/http/api-handler";
import { auditExportQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";

export const dynamic = "force-dynamic";

// GET /api/v1/audit/export?format=csv|ndjson&from=&to=&<filters>  — oldest first, streamed, with each row's hashes.
export const GET = apiHandler(
  async ({ req, actor }) => {
    const sp = req.nextUrl.searchParams;
    if (sp.has("cursor") || sp.has("limit"))
      throw new AppError("INVALID_INPUT", "an export takes no cursor or limit; narrow it with from and to", sp.has("cursor") ? "cursor" : "limit");
    const { format } = parseQuery(sp, auditExportQuery);
    const { filter } = parseAuditQuery(sp, { extra: ["format"] });
    const out = await exportAuditEvents({ actor, filter, format });
    return new Response(out.stream, {
      status: 200,
      headers: {
        "Content-Type": out.contentType,
        "Content-Disposition": `attachment; filename="${out.filename}"`,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
      },
    });
  },
  // writesOnGet: an export records audit.export in the caller's name and runs a long query, so a link on another site
  // (a top-level navigation carries the session cookie) must not start one. The audit page's own links are same-origin.
  { roles: ["admin", "manager"], what: "exporting the audit trail", writesOnGet: true },
);
