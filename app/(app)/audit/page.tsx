import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { hasRole } from "@/lib/server/actor";
import { listAuditEvents } from "@/lib/server/audit/list-audit-events";
import { verifyAuditChain } from "@/lib/server/audit/verify-audit-chain";
import { summarizeAuthFailures } from "@/lib/server/auth/count-auth-failure";

export const dynamic = "force-dynamic";

export default async function AuditPage({ searchParams }: { searchParams: Promise<{ before?: string; action?: string }> }) {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  if (!hasRole(actor, ["admin", "manager"])) {
    return <p role="alert" className="rounded bg-rose-50 p-4 text-rose-800">The audit trail is open to admins and managers.</p>;
  }
  const sp = await searchParams;
  const before = sp.before && /^\d{1,18}$/.test(sp.before) ? BigInt(sp.before) : undefined;
  // The chain is verified from the last verified row on (a full check: `imprimatur audit verify`).
  const [events, chain, failures] = await Promise.all([
    listAuditEvents({ actor, before, limit: 100, action: sp.action }),
    verifyAuditChain({ from: "checkpoint" }),
    summarizeAuthFailures({ since: new Date(Date.now() - 24 * 3600_000) }),
  ]);
  return (
    <div className="space-y-4">
      <div className="flex items-center gap-4">
        <h1 className="text-2xl font-semibold">Audit trail</h1>
        <span data-testid="chain-status" className={`rounded px-2 py-1 text-xs font-semibold ${chain.ok ? "bg-emerald-100 text-emerald-800" : "bg-rose-100 text-rose-800"}`}>
          {chain.ok ? `hash chain intact · ${chain.rows} events` : `hash chain BROKEN at #${chain.brokenSeq}: ${chain.reason}`}
        </span>
        <form className="ml-auto flex gap-2 text-sm">
          <input name="action" defaultValue={sp.action ?? ""} placeholder="action prefix, e.g. approval" className="rounded border border-slate-300 px-2 py-1" />
          <button className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100">Filter</button>
        </form>
      </div>
      {failures.length > 0 && (
        <section aria-label="Failed authentications" data-testid="auth-failures" className="rounded-lg border border-amber-200 bg-amber-50 p-3 text-xs text-amber-900">
          <p className="mb-1 font-semibold">Failed authentications in the last 24 hours (counted per source and minute, not one audit row each)</p>
          <ul className="flex flex-wrap gap-x-4 gap-y-1 font-mono">
            {failures.map((f) => (
              <li key={`${f.source} ${f.kind}`}>{f.source} · {f.kind} · {f.count}</li>
            ))}
          </ul>
        </section>
      )}
      <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm">
        <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
          <tr><th className="px-3 py-2">#</th><th className="px-3 py-2">Time (UTC)</th><th className="px-3 py-2">Actor</th><th className="px-3 py-2">Action</th><th className="px-3 py-2">Outcome</th><th className="px-3 py-2">Target</th><th className="px-3 py-2">Detail</th></tr>
        </thead>
        <tbody>
          {events.map((e) => (
            <tr key={e.seq} className="border-t border-slate-100 align-top" data-testid="audit-row">
              <td className="px-3 py-2 font-mono text-xs">{e.seq}</td>
              <td className="whitespace-nowrap px-3 py-2 text-xs">{e.at.replace("T", " ").replace("Z", "")}</td>
              <td className="px-3 py-2 text-xs">{e.actor}</td>
              <td className="px-3 py-2 font-mono text-xs">{e.action}</td>
              <td className={`px-3 py-2 text-xs ${e.outcome === "success" ? "text-emerald-700" : "text-rose-700"}`}>{e.outcome}</td>
              <td className="px-3 py-2 font-mono text-xs break-all">{e.target}{e.targetDigest ? <div className="text-slate-500">{e.targetDigest}</div> : null}</td>
              <td className="max-w-md px-3 py-2 font-mono text-[11px] break-all text-slate-600">{JSON.stringify(e.detail)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {events.length === 100 && (
        <a className="text-sm text-sky-700 hover:underline" href={`/audit?before=${events[events.length - 1]!.seq}${sp.action ? `&action=${encodeURIComponent(sp.action)}` : ""}`}>Older events →</a>
      )}
    </div>
  );
}
