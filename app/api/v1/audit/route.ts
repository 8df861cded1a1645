import { AppError } from "@/lib/errors";
import { listAuditEvents } from "@/lib/server/audit/list-audit-events";
import { apiHandler } from "@/lib/server/http/api-handler";

export const dynamic = "force-dynamic";

export const GET = apiHandler(
  async ({ req, actor }) => {
    const sp = req.nextUrl.searchParams;
    const before = sp.get("before");
    if (before && !/^\d{1,18}$/.test(before)) throw new AppError("INVALID_INPUT", "before must be a sequence number", "before");
    const limit = sp.get("limit");
    if (limit && !/^\d{1,3}$/.test(limit)) throw new AppError("INVALID_INPUT", "limit must be 1-500", "limit");
    const events = await listAuditEvents({ actor, before: before ? BigInt(before) : undefined, limit: limit ? Number(limit) : 100, action: sp.get("action") ?? undefined });
    return { events, next: events.length ? events[events.length - 1]!.seq : null };
  },
  { roles: ["admin", "manager"], what: "reading the audit trail" },
);
