import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { isAppError } from "@/lib/errors";
import { searchPackages } from "@/lib/server/evidence/search-packages";
import { DigestChip } from "@/components/digest-chip";
import { BulkRevokePanel } from "@/components/revocations/bulk-revoke-panel";
import { listStageNames } from "@/lib/server/stages/list-stage-names";

export const dynamic = "force-dynamic";

const EXAMPLES = ["openssl < 3.0.7", "pkg:maven/org.apache.logging.log4j/log4j-core vers:maven/>=2.0.0|<2.17.1", "lodash <= 4.17.20", "busybox"];

export default async function SearchPage({ searchParams }: { searchParams: Promise<{ q?: string; deleted?: string }> }) {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  const sp = await searchParams;
  const q = sp.q?.trim() ?? "";
  let result: Awaited<ReturnType<typeof searchPackages>> | null = null;
  let error: string | null = null;
  if (q) {
    try {
      result = await searchPackages({ actor, q, includeDeleted: sp.deleted === "1" });
    } catch (e) {
      if (!isAppError(e)) throw e;
      error = e.message;
    }
  }
  const api = `/api/v1/search/packages?q=${encodeURIComponent(q)}${sp.deleted === "1" ? "&deleted=1" : ""}`;
  return (
    <div className="space-y-4">
      <h1 className="text-2xl font-semibold">Fleet search</h1>
      <p className="text-sm text-slate-600">
        Which images contain a package version, and how far have they been promoted? Versions are compared with each ecosystem’s own rules (npm semver, Maven,
        PEP 440, Debian, RPM, Alpine).
      </p>
      <form method="get" className="flex flex-wrap gap-2">
        <input
          name="q"
          defaultValue={q}
          aria-label="Package query"
          placeholder="openssl < 3.0.7"
          className="w-[36rem] max-w-full rounded border border-slate-300 px-3 py-2 font-mono text-sm"
        />
        <label className="flex items-center gap-1 text-sm text-slate-600">
          <input type="checkbox" name="deleted" value="1" defaultChecked={sp.deleted === "1"} /> include deleted images
        </label>
        <button className="rounded bg-slate-900 px-4 py-2 text-sm font-medium text-white">Search</button>
      </form>
      {!q && (
        <p className="text-sm text-slate-500">
          Examples:{" "}
          {EXAMPLES.map((e) => (
            <a key={e} className="mr-3 font-mono text-sky-700 hover:underline" href={`/search?q=${encodeURIComponent(e)}`}>
              {e}
            </a>
          ))}
        </p>
      )}
      {error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {error}
        </p>
      )}
      {result && (
        <div className="space-y-2">
          <div className="flex items-center gap-3 text-sm">
            <span data-testid="search-count">
              {result.total} image{result.total === 1 ? "" : "s"}
            </span>
            {result.total > result.results.length && <span className="text-slate-500">showing the first {result.results.length}; the CSV export has all</span>}
            <span className="text-slate-500">
              {result.query.purl ? `purl ${result.query.purl}` : `package ${result.query.name}`}
              {result.query.constraints ? ` · ${result.query.constraints.map((c) => `${c.op} ${c.version}`).join(" and ")}` : " · any version"}
            </span>
            <a className="ml-auto text-sky-700 hover:underline" href={`${api}&format=csv`}>
              Export CSV
            </a>
            <a className="text-sky-700 hover:underline" href={api}>
              JSON
            </a>
          </div>
          {result.truncated && (
            <p role="alert" className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-800" data-testid="search-truncated">
              Incomplete: the package has more versions than one search reads, so images may be missing from this list (and a bulk revocation from it is
              refused). Narrow the query: a purl (such as pkg:npm/lodash) reads only that package’s versions.
            </p>
          )}
          <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="search-results">
            <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="px-3 py-2">Repository</th>
                <th className="px-3 py-2">Digest</th>
                <th className="px-3 py-2">Tags</th>
                <th className="px-3 py-2">Version found</th>
                <th className="px-3 py-2">Highest stage</th>
              </tr>
            </thead>
            <tbody>
              {result.results.map((r) => (
                <tr key={`${r.registry}/${r.repository}@${r.digest}`} className="border-t border-slate-100" data-testid="search-row">
                  <td className="px-3 py-2 font-mono text-xs">
                    {r.registry}/{r.repository}
                    {r.deleted && <span className="ml-1 rounded bg-rose-100 px-1 text-rose-700">deleted</span>}
                  </td>
                  <td className="px-3 py-2">
                    <DigestChip digest={r.digest} href={`/images/${r.repository}@${r.digest}?registry=${encodeURIComponent(r.registry)}&tab=sbom`} />
                  </td>
                  <td className="px-3 py-2 font-mono text-xs">{r.tags.join(", ") || "untagged"}</td>
                  <td className="px-3 py-2 font-mono text-xs">
                    {r.versions.join(", ")}
                    {r.notCounted && (
                      <span
                        className="ml-1 rounded bg-amber-100 px-1 font-sans text-amber-800"
                        title="found only in evidence that does not count: unsigned registry evidence; uploader rules apply to this repository"
                      >
                        not counted
                      </span>
                    )}
                  </td>
                  <td className="px-3 py-2 text-xs">{r.highestStage ?? <span className="text-slate-500">none</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {(actor.kind !== "user" || actor.role === "admin" || actor.role === "reviewer") && result.results.length > 0 && (
            <BulkRevokePanel
              query={q}
              stages={(await listStageNames({ actor })).map((s) => s.name)}
              results={result.results.map((r) => ({ registry: r.registry, repository: r.repository, digest: r.digest }))}
            />
          )}
        </div>
      )}
    </div>
  );
}
