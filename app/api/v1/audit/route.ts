import { parseAuditQuery } from "@/lib/server/audit/audit-filter";
import { listAuditEvents } from "@/lib/server/audit/list-audit-events";
import { apiHandler } from "@/lib/server/http/api-handler";
import { auditQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";

export const dynamic = "force-dynamic";

// GET /api/v1/audit?actor=&action=&target=&outcome=&from=&to=&cursor=&limit=  — newest first; `next` is the cursor.
export const GET = apiHandler(
  async ({ req, actor }) => {
    // The schema checks names, lengths and shapes (and is what the OpenAPI document shows); parseAuditQuery the meaning.
    parseQuery(req.nextUrl.searchParams, auditQuery);
    const { filter, cursor, limit } = parseAuditQuery(req.nextUrl.searchParams, { defaultLimit: 100 });
    return listAuditEvents({ actor, filter, cursor, limit });
  },
  { roles: ["admin", "manager"], what: "reading the audit trail" },
);
