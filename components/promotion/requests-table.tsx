import Link from "next/link";
import { BreakGlassMarker, RequestStatusBadge } from "./badges";
import { age, imageHref, shortDigest, utc } from "./format";

export interface RequestRow {
  id: string;
  status: string;
  state: string;
  stage: string;
  registry: string;
  repository: string;
  digest: string;
  note: string;
  requester: string | null;
  approvals: string;
  breakGlass: boolean;
  createdAt: string;
}

/** One line per promotion request, linking to its review page. */
export function RequestsTable({ rows, empty }: { rows: RequestRow[]; empty: string }) {
  if (rows.length === 0)
    return (
      <p className="rounded border border-dashed border-slate-300 p-4 text-sm text-slate-500" data-testid="requests-empty">
        {empty}
      </p>
    );
  const now = new Date();
  return (
    <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm" data-testid="requests">
      <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
        <tr>
          <th className="px-3 py-2">Image</th>
          <th className="px-3 py-2">Stage</th>
          <th className="px-3 py-2">State</th>
          <th className="px-3 py-2">Requester</th>
          <th className="px-3 py-2">Approvals</th>
          <th className="px-3 py-2">Age</th>
          <th className="px-3 py-2">
            <span className="sr-only">Open</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr
            key={r.id}
            className="border-t border-slate-100 align-top"
            data-testid="request-row"
            data-request-id={r.id}
            data-stage={r.stage}
            data-repository={r.repository}
          >
            <td className="px-3 py-2">
              <a href={imageHref(r.repository, r.digest, r.registry)} className="font-mono text-xs text-sky-700 hover:underline" title={r.digest}>
                {r.repository}@{shortDigest(r.digest)}
              </a>
              {r.note && (
                <p className="mt-0.5 max-w-xs truncate text-xs text-slate-500" title={r.note}>
                  {r.note}
                </p>
              )}
            </td>
            <td className="px-3 py-2 font-medium">{r.stage}</td>
            <td className="px-3 py-2">
              <div className="flex flex-wrap items-center gap-1">
                <RequestStatusBadge status={r.status} />
                {r.breakGlass && <BreakGlassMarker />}
              </div>
              <p className="mt-0.5 text-xs text-slate-600" data-testid="request-state">
                {r.state}
              </p>
            </td>
            <td className="px-3 py-2">{r.requester ?? "–"}</td>
            <td className="px-3 py-2 text-xs text-slate-600">{r.approvals}</td>
            <td className="px-3 py-2 text-xs text-slate-500" title={utc(r.createdAt)}>
              {age(r.createdAt, now)}
            </td>
            <td className="px-3 py-2 text-right">
              <Link href={`/requests/${r.id}`} className="rounded border border-slate-300 px-2 py-1 text-xs hover:bg-slate-100">
                {r.status === "open" ? "Review" : "Open"}
              </Link>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
