import type { getImageEvidence } from "@/lib/server/evidence/get-image-evidence";
import { SeverityChart } from "./severity-chart";
import { WithdrawEvidenceButton } from "./evidence-upload";

type Evidence = Awaited<ReturnType<typeof getImageEvidence>>;

const SIG_STYLE: Record<string, string> = {
  signed: "bg-emerald-100 text-emerald-800",
  unsigned: "bg-slate-100 text-slate-600",
  invalid: "bg-rose-100 text-rose-800",
};

export function SignatureBadge({ status, by }: { status: string; by: string | null }) {
  return (
    <span className={`rounded px-1.5 py-0.5 text-xs font-medium ${SIG_STYLE[status] ?? ""}`}>
      {status === "signed" ? `signed by ${by}` : status === "invalid" ? "signature not verified" : "unsigned"}
    </span>
  );
}

function link(base: string, params: Record<string, string | undefined>, change: Record<string, string | undefined>) {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...params, ...change })) if (v) sp.set(k, v);
  return `${base}?${sp.toString()}`;
}

export function DocumentsList({ ev, rawBase, withdraw }: { ev: Evidence; rawBase: string; withdraw?: { image: string; approvedStages: string[] } }) {
  if (!ev.documents.length)
    return (
      <p className="rounded border border-dashed border-slate-300 p-4 text-sm text-slate-500">
        No evidence yet. CI can upload a scan or SBOM with <span className="font-mono">POST {rawBase}</span>.
      </p>
    );
  return (
    <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="documents">
      <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
        <tr>
          <th className="px-3 py-2">Document</th>
          <th className="px-3 py-2">From</th>
          <th className="px-3 py-2">Scan time (stated)</th>
          <th className="px-3 py-2">Contents</th>
          <th className="px-3 py-2">Signature</th>
          <th className="px-3 py-2">
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {ev.documents.map((d) => (
          <tr key={d.id} className={`border-t border-slate-100 ${d.withdrawnAt ? "bg-slate-50" : ""}`} data-withdrawn={d.withdrawnAt ? "true" : undefined}>
            <td className="px-3 py-2">
              <span className="font-medium">{d.format}</span>{" "}
              <span className="text-xs text-slate-500">
                {d.kind}
                {d.toolName ? ` · ${d.toolName}${d.toolVersion ? ` ${d.toolVersion}` : ""}` : ""}
              </span>
              {d.withdrawnAt ? (
                <div className="mt-1 text-xs text-rose-700">
                  withdrawn by {d.withdrawnBy} on {new Date(d.withdrawnAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC: {d.withdrawReason}; no longer
                  counted by the gates
                </div>
              ) : null}
              {d.notCounted ? (
                <div className="mt-1 text-xs text-amber-800" data-not-counted="true">
                  not counted: {d.notCounted}
                </div>
              ) : null}
            </td>
            <td className="px-3 py-2 text-xs">
              {d.source === "upload" ? `uploaded by ${d.uploadedBy}` : "found in the registry"} ·{" "}
              {new Date(d.uploadedAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC
            </td>
            <td className="px-3 py-2 text-xs">{d.scannedAt ? `${new Date(d.scannedAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC` : "–"}</td>
            <td className="px-3 py-2 text-xs">
              {d.componentCount} components · {d.findingCount} findings
            </td>
            <td className="px-3 py-2" title={d.signatureDetail ?? ""}>
              <SignatureBadge status={d.signatureStatus} by={d.signedBy} />
            </td>
            <td className="space-x-2 px-3 py-2 text-xs">
              <a className="text-sky-700 hover:underline" href={`${rawBase}/${d.id}/raw`}>
                download original
                <span className="sr-only">
                  {" "}
                  {d.format} {d.kind}
                </span>
              </a>
              {withdraw && !d.withdrawnAt && (
                <WithdrawEvidenceButton id={d.id} label={`${d.format} ${d.kind}`} image={withdraw.image} approvedStages={withdraw.approvedStages} />
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function VulnerabilitiesTab({ ev, pageBase, params }: { ev: Evidence; pageBase: string; params: Record<string, string | undefined> }) {
  return (
    <div className="space-y-4">
      <div className="grid gap-4 sm:grid-cols-[20rem_1fr]">
        <div className="rounded-lg border border-slate-200 bg-white p-4">
          <h3 className="mb-2 text-sm font-semibold">Applicable findings by severity</h3>
          <SeverityChart counts={ev.severityCounts} />
          <p className="mt-2 text-xs text-slate-500">
            VEX states not_affected, fixed and false_positive are not counted. The same finding from two scanners is shown once.
          </p>
        </div>
        <form method="get" className="flex flex-wrap content-start gap-2 rounded-lg border border-slate-200 bg-white p-4 text-sm">
          <input type="hidden" name="tab" value="vulnerabilities" />
          {params.registry && <input type="hidden" name="registry" value={params.registry} />}
          <input
            name="vq"
            defaultValue={params.vq ?? ""}
            placeholder="CVE or package"
            aria-label="Search findings"
            className="rounded border border-slate-300 px-2 py-1"
          />
          <select name="severity" defaultValue={params.severity ?? ""} aria-label="Severity" className="rounded border border-slate-300 px-2 py-1">
            <option value="">All severities</option>
            {["critical", "high", "medium", "low", "negligible", "unknown"].map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
          <select name="fix" defaultValue={params.fix ?? "any"} aria-label="Fix" className="rounded border border-slate-300 px-2 py-1">
            <option value="any">Fix or not</option>
            <option value="available">Fix available</option>
            <option value="none">No fix</option>
          </select>
          <select name="vsort" defaultValue={params.vsort ?? "severity"} aria-label="Sort" className="rounded border border-slate-300 px-2 py-1">
            <option value="severity">Sort by severity</option>
            <option value="cvss">Sort by CVSS</option>
            <option value="package">Sort by package</option>
            <option value="id">Sort by id</option>
          </select>
          <button className="rounded bg-slate-900 px-3 py-1 text-white">Apply</button>
        </form>
      </div>
      <p className="text-xs text-slate-500">
        {ev.vulnerabilities.length} of {ev.vulnerabilityTotal} findings
      </p>
      <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="vulnerabilities">
        <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
          <tr>
            <th className="px-3 py-2">Id</th>
            <th className="px-3 py-2">Severity</th>
            <th className="px-3 py-2">CVSS</th>
            <th className="px-3 py-2">Package</th>
            <th className="px-3 py-2">Installed</th>
            <th className="px-3 py-2">Fixed in</th>
            <th className="px-3 py-2">Status</th>
            <th className="px-3 py-2">Sources</th>
          </tr>
        </thead>
        <tbody>
          {ev.vulnerabilities.slice(0, 500).map((f) => (
            <tr key={`${f.id}|${f.package}|${f.installedVersion ?? ""}`} className="border-t border-slate-100" data-testid="vuln-row">
              <td className="px-3 py-2 font-mono text-xs">
                {f.id}
                {f.aliases.length > 0 && <div className="text-slate-500">{f.aliases.slice(0, 3).join(", ")}</div>}
              </td>
              <td className="px-3 py-2 text-xs capitalize">{f.severity}</td>
              <td className="px-3 py-2 font-mono text-xs">{f.cvss?.score ?? "–"}</td>
              <td className="px-3 py-2 text-xs break-all">{f.package}</td>
              <td className="px-3 py-2 font-mono text-xs">{f.installedVersion ?? "–"}</td>
              <td className="px-3 py-2 font-mono text-xs">{f.fixAvailable ? (f.fixedVersion ?? "yes") : <span className="text-slate-500">no fix</span>}</td>
              <td className="px-3 py-2 text-xs">{f.status.replace(/_/g, " ")}</td>
              <td className="px-3 py-2 text-xs">{f.sources.join(", ")}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {ev.vulnerabilities.length > 500 && <p className="text-xs text-slate-500">Showing the first 500; narrow the filters.</p>}
      <p className="text-xs">
        <a className="text-sky-700 hover:underline" href={link(pageBase, params, { tab: "vulnerabilities" })}>
          Link to this view
        </a>
      </p>
    </div>
  );
}

export function SbomTab({ ev, pageBase, params, rawBase }: { ev: Evidence; pageBase: string; params: Record<string, string | undefined>; rawBase: string }) {
  const page = Number(params.cpage ?? "1");
  const sboms = ev.documents.filter((d) => d.componentCount > 0);
  return (
    <div className="space-y-4">
      <div className="grid gap-4 sm:grid-cols-[20rem_1fr]">
        <div className="rounded-lg border border-slate-200 bg-white p-4" data-testid="licenses">
          <h3 className="mb-2 text-sm font-semibold">Licenses</h3>
          {ev.licenses.length === 0 && <p className="text-xs text-slate-500">No components.</p>}
          <ul className="space-y-0.5 text-xs">
            {ev.licenses.map((l) => (
              <li key={l.license} className="flex justify-between gap-2">
                <span className="break-all">{l.license}</span>
                <span className="font-mono">{l.count}</span>
              </li>
            ))}
          </ul>
          {sboms.length > 0 && (
            <p className="mt-3 text-xs">
              Download:{" "}
              {sboms.map((d) => (
                <a key={d.id} className="mr-2 text-sky-700 hover:underline" href={`${rawBase}/${d.id}/raw`}>
                  {d.format}
                </a>
              ))}
            </p>
          )}
        </div>
        <div className="space-y-2">
          <form method="get" className="flex gap-2 text-sm">
            <input type="hidden" name="tab" value="sbom" />
            {params.registry && <input type="hidden" name="registry" value={params.registry} />}
            <input
              name="cq"
              defaultValue={params.cq ?? ""}
              placeholder="Search components by name or purl"
              aria-label="Search components"
              className="flex-1 rounded border border-slate-300 px-2 py-1"
            />
            <button className="rounded bg-slate-900 px-3 py-1 text-white">Search</button>
          </form>
          <p className="text-xs text-slate-500">{ev.componentTotal} components</p>
          <table className="w-full rounded-lg border border-slate-200 bg-white text-sm" data-testid="components">
            <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="px-3 py-2">Name</th>
                <th className="px-3 py-2">Version</th>
                <th className="px-3 py-2">Type</th>
                <th className="px-3 py-2">Licenses</th>
                <th className="px-3 py-2">purl</th>
              </tr>
            </thead>
            <tbody>
              {ev.components.map((c, i) => (
                <tr key={`${c.documentId}-${i}`} className="border-t border-slate-100" data-testid="component-row">
                  <td className="px-3 py-2 text-xs break-all">{c.name}</td>
                  <td className="px-3 py-2 font-mono text-xs">{c.version ?? "–"}</td>
                  <td className="px-3 py-2 text-xs">{c.type ?? "–"}</td>
                  <td className="px-3 py-2 text-xs">{c.licenses.join(", ") || "–"}</td>
                  <td className="px-3 py-2 font-mono text-[11px] break-all text-slate-500">{c.purl ?? "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="flex gap-2 text-sm">
            {page > 1 && (
              <a className="rounded border border-slate-300 px-2 py-1" href={link(pageBase, params, { tab: "sbom", cpage: String(page - 1) })}>
                Previous
              </a>
            )}
            {page < ev.componentPages && (
              <a className="rounded border border-slate-300 px-2 py-1" href={link(pageBase, params, { tab: "sbom", cpage: String(page + 1) })}>
                Next
              </a>
            )}
          </div>
        </div>
      </div>
    </div>
  );
}

export function ProvenanceTab({ ev }: { ev: Evidence }) {
  if (!ev.provenance.length)
    return (
      <p className="rounded border border-dashed border-slate-300 p-4 text-sm text-slate-500">
        No provenance. Upload an in-toto statement or DSSE envelope with SLSA provenance.
      </p>
    );
  return (
    <div className="space-y-3">
      {ev.provenance.map((p, i) => (
        <section key={i} className="rounded-lg border border-slate-200 bg-white p-4 text-sm" data-testid="provenance">
          <div className="mb-2 flex flex-wrap items-center gap-2">
            <span className="font-mono text-xs">{p.predicateType}</span>
            <SignatureBadge status={p.signature.status} by={p.signature.by} />
            <span className="text-xs text-slate-500">{p.signature.detail}</span>
          </div>
          <dl className="grid grid-cols-[10rem_1fr] gap-x-3 gap-y-1 text-xs">
            <dt className="text-slate-500">source repository</dt>
            <dd className="break-all font-mono">{p.sourceRepo ?? "–"}</dd>
            <dt className="text-slate-500">commit</dt>
            <dd className="break-all font-mono">{p.sourceCommit ?? "–"}</dd>
            <dt className="text-slate-500">builder</dt>
            <dd className="break-all font-mono">{p.builderId ?? "–"}</dd>
            <dt className="text-slate-500">build type</dt>
            <dd className="break-all font-mono">{p.buildType ?? "–"}</dd>
            <dt className="text-slate-500">entry point</dt>
            <dd className="break-all font-mono">{p.entryPoint ?? "–"}</dd>
            <dt className="text-slate-500">built</dt>
            <dd>
              {p.startedOn ?? "–"} → {p.finishedOn ?? "–"}
            </dd>
            <dt className="text-slate-500">materials</dt>
            <dd className="font-mono">
              {p.materials.length
                ? p.materials.slice(0, 20).map((m, j) => (
                    <div key={j} className="break-all">
                      {m.uri}
                      {m.digest
                        ? ` ${Object.entries(m.digest)
                            .map(([k, v]) => `${k}:${String(v).slice(0, 12)}`)
                            .join(" ")}`
                        : ""}
                    </div>
                  ))
                : "–"}
            </dd>
          </dl>
        </section>
      ))}
    </div>
  );
}
