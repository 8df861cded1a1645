import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { isAppError } from "@/lib/errors";
import { listAdvisories } from "@/lib/server/advisories/list-advisories";
import { AdvisoryUpload } from "@/components/advisories/advisory-upload";

export const dynamic = "force-dynamic";

export default async function AdvisoriesPage({ searchParams }: { searchParams: Promise<{ q?: string; page?: string }> }) {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  const sp = await searchParams;
  let data: Awaited<ReturnType<typeof listAdvisories>> | null = null;
  let error: string | null = null;
  try {
    data = await listAdvisories({ actor, q: sp.q?.trim() || undefined, page: sp.page && /^\d{1,6}$/.test(sp.page) ? Number(sp.page) : 1 });
  } catch (e) {
    if (!isAppError(e)) throw e;
    error = e.message;
  }
  const canImport = actor.kind !== "user" || actor.role === "admin" || actor.role === "reviewer";
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Advisories</h1>
      <p className="text-sm text-slate-600">
        OSV advisories matched against every stored SBOM component, without a rescan. Matches are findings whose source is the advisory; VEX statements still
        apply; approved images whose gates no longer hold are flagged at risk.
      </p>
      {canImport && <AdvisoryUpload />}
      <form method="get" className="flex gap-2">
        <input
          name="q"
          defaultValue={sp.q ?? ""}
          aria-label="Search advisories"
          placeholder="GHSA-…, CVE-…, or words"
          className="w-96 rounded border border-slate-300 px-3 py-2 text-sm"
        />
        <button className="rounded bg-slate-900 px-4 py-2 text-sm font-medium text-white">Search</button>
      </form>
      {error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {error}
        </p>
      )}
      {data && (
        <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="advisories">
          <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
            <tr>
              <th className="px-3 py-2">Advisory</th>
              <th className="px-3 py-2">Severity</th>
              <th className="px-3 py-2">Packages</th>
              <th className="px-3 py-2">Images affected</th>
              <th className="px-3 py-2">Imported</th>
            </tr>
          </thead>
          <tbody>
            {data.advisories.map((a) => (
              <tr key={a.id} className="border-t border-slate-100" data-testid="advisory-row">
                <td className="px-3 py-2">
                  <div className="font-mono text-xs">
                    {a.id}
                    {a.withdrawn && <span className="ml-1 rounded bg-slate-200 px-1">withdrawn</span>}
                  </div>
                  <div className="text-xs text-slate-500">
                    {a.aliases.join(", ")} {a.summary}
                  </div>
                </td>
                <td className="px-3 py-2 text-xs">
                  {a.severity}
                  {a.cvssScore !== null ? ` (${a.cvssScore})` : ""}
                </td>
                <td className="px-3 py-2 font-mono text-xs">
                  {a.packages.slice(0, 5).join(", ")}
                  {a.packages.length > 5 ? ` +${a.packages.length - 5}` : ""}
                </td>
                <td className="px-3 py-2 text-xs">
                  {a.affectedImages}
                  {a.images > a.affectedImages ? ` (+${a.images - a.affectedImages} not affected per VEX)` : ""}
                </td>
                <td className="px-3 py-2 text-xs">
                  {a.importedAt.slice(0, 16).replace("T", " ")} by {a.importedBy}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && <p className="text-xs text-slate-500">{data.total} advisories</p>}
    </div>
  );
}
