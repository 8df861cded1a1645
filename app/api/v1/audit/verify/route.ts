import { verifyAuditCheckpoints } from "@/lib/server/audit/verify-audit-checkpoints";
import { apiHandler } from "@/lib/server/http/api-handler";
import { noQuery } from "@/lib/server/http/contract/schemas";
import { parseQuery } from "@/lib/server/http/parse-query";

export const dynamic = "force-dynamic";

// GET /api/v1/audit/verify — the chain, checked against every signed checkpoint in the registry.
export const GET = apiHandler(
  async ({ req, actor }) => {
    parseQuery(req.nextUrl.searchParams, noQuery); // this endpoint takes no parameters
    const r = await verifyAuditCheckpoints({ actor });
    return {
      ok: r.ok,
      chain: { ...r.chain, ...("brokenSeq" in r.chain ? { brokenSeq: r.chain.brokenSeq.toString() } : {}) },
      tableEndsAt: r.tableEndsAt,
      lastAnchoredSeq: r.lastAnchoredSeq,
      checkpoints: r.checkpoints,
      problems: r.problems,
      gaps: r.gaps,
      unverifiable: r.unverifiable,
    };
  },
  { roles: ["admin", "manager"], what: "verifying the audit trail" },
);
