import { parseAuditQuery } from "@/lib/server/audit/audit-filter";
import { listAuditEvents } from "@/lib/server/audit/list-audit-events";
import { apiHandler } from "@/lib/server/http/api-handler";

export const dynamic = "force-dynamic";

// GET /api/v1/audit?actor=&action=&target=&outcome=&from=&to=&cursor=&limit=  — newest first; `next` is the cursor.
export const GET = apiHandler(
  async ({ req, actor }) => {
    const { filter, cursor, limit } = parseAuditQuery(req.nextUrl.searchParams, { defaultLimit: 100 });
    return listAuditEvents({ actor, filter, cursor, limit });
  },
  { roles: ["admin", "manager"], what: "reading the audit trail" },
);
