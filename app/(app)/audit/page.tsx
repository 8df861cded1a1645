import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { AUDIT_FAMILIES, AUDIT_KINDS, renderAuditEvent } from "@/lib/audit-catalogue";
import { isAppError } from "@/lib/errors";
import { hasRole } from "@/lib/server/actor";
import { auditFilterParams, EXPORT_MAX_DAYS, OUTCOMES, parseAuditQuery } from "@/lib/server/audit/audit-filter";
import { listAuditEvents } from "@/lib/server/audit/list-audit-events";
import { verifyAuditChain } from "@/lib/server/audit/verify-audit-chain";
import { summarizeAuthFailures } from "@/lib/server/auth/count-auth-failure";
import { verifyAuditCheckpoints } from "@/lib/server/audit/verify-audit-checkpoints";
import { AuditSentence } from "@/components/audit-sentence";

export const dynamic = "force-dynamic";

type SP = Record<string, string | string[] | undefined>;

function toParams(sp: SP): URLSearchParams {
  const out = new URLSearchParams();
  for (const [k, v] of Object.entries(sp)) {
    const s = Array.isArray(v) ? v[0] : v;
    // Empty form fields arrive as "k="; they mean "no filter".
    if (s) out.set(k, s);
  }
  return out;
}

const input = "rounded border border-slate-300 px-2 py-1";

type Chain = Awaited<ReturnType<typeof verifyAuditChain>>;
type Anchors = Awaited<ReturnType<typeof verifyAuditCheckpoints>>;
type Failures = Awaited<ReturnType<typeof summarizeAuthFailures>>;
type AuditPageData = NonNullable<Awaited<ReturnType<typeof listAuditEvents>>>;

/** The title, the hash-chain badge and the export links. */
function AuditHeader({ chain, exportQs }: { chain: Chain; exportQs: URLSearchParams }) {
  return (
    <div className="flex flex-wrap items-center gap-4">
      <h1 className="text-2xl font-semibold">Audit trail</h1>
      <span
        data-testid="chain-status"
        className={`rounded px-2 py-1 text-xs font-semibold ${chain.ok ? "bg-emerald-100 text-emerald-800" : "bg-rose-100 text-rose-800"}`}
      >
        {chain.ok ? `hash chain intact · ${chain.rows} events` : `hash chain BROKEN at #${chain.brokenSeq}: ${chain.reason}`}
      </span>
      <span className="ml-auto flex gap-2 text-sm">
        <a
          data-testid="export-csv"
          className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100"
          href={`/api/v1/audit/export?format=csv&${exportQs}`}
        >
          Export CSV
        </a>
        <a
          data-testid="export-ndjson"
          className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100"
          href={`/api/v1/audit/export?format=ndjson&${exportQs}`}
        >
          Export NDJSON
        </a>
      </span>
    </div>
  );
}

/** Failed sign-ins of the last 24 hours, counted per source and minute. */
function AuthFailures({ failures }: { failures: Failures }) {
  return (
    <section
      aria-label="Failed authentications"
      data-testid="auth-failures"
      className="rounded-lg border border-amber-200 bg-amber-50 p-3 text-xs text-amber-900"
    >
      <p className="mb-1 font-semibold">
        Failed authentications in the last 24 hours (counted per source and minute, not one audit row each; cross-site: a signed-in user&apos;s requests refused
        as coming from another site, counted per user)
      </p>
      <ul className="flex flex-wrap gap-x-4 gap-y-1 font-mono">
        {failures.map((f) => (
          <li key={`${f.source} ${f.kind}`}>
            {f.source} · {f.kind} · {f.count}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The result of the checkpoint check, or the link that asks for it. */
function CheckpointsSection({ anchors, raw }: { anchors: Anchors | null; raw: URLSearchParams }) {
  return (
    <section aria-label="Checkpoints" className="text-sm">
      {anchors ? (
        <div
          data-testid="checkpoint-status"
          className={`space-y-1 rounded border p-3 ${anchors.ok ? "border-emerald-200 bg-emerald-50" : "border-rose-200 bg-rose-50"}`}
        >
          <p className="font-semibold">
            {anchors.ok
              ? `The trail agrees with all ${anchors.checkpoints.filter((c) => c.status === "ok").length} checkpoint(s) in the registry`
              : anchors.unverifiable && anchors.problems.length === 1
                ? "The trail could NOT be verified against the checkpoints in the registry"
                : "The trail does NOT agree with the checkpoints in the registry"}
          </p>
          {anchors.problems.map((p) => (
            <p key={p} className="text-rose-800">
              ✗ {p}
            </p>
          ))}
          {anchors.gaps.map((g) => (
            <p key={g} className="text-amber-800">
              … {g}
            </p>
          ))}
        </div>
      ) : (
        <a
          data-testid="verify-checkpoints"
          href={`/audit?${new URLSearchParams([...raw.entries(), ["verify", "checkpoints"]])}`}
          className="text-sky-700 hover:underline"
        >
          Check the trail against the signed checkpoints in the registry
        </a>
      )}
    </section>
  );
}

/** The GET form of filters; its fields start from the current query. */
function AuditFilterForm({ raw }: { raw: URLSearchParams }) {
  const v = (k: string) => raw.get(k) ?? "";
  return (
    <form method="get" className="flex flex-wrap items-end gap-2 text-sm" aria-label="Filter the audit trail">
      <label className="flex flex-col text-xs text-slate-600">
        Actor
        <input name="actor" defaultValue={v("actor")} placeholder="alice@example.com" className={input} />
      </label>
      <label className="flex flex-col text-xs text-slate-600">
        Action
        <select name="action" defaultValue={v("action")} className={input}>
          <option value="">any</option>
          {AUDIT_FAMILIES.map((f) => (
            <optgroup key={f} label={f}>
              <option value={f}>{f} (all)</option>
              {Object.entries(AUDIT_KINDS)
                .filter(([, k]) => k.family === f)
                .map(([a, k]) => (
                  <option key={a} value={a}>
                    {k.label}
                  </option>
                ))}
            </optgroup>
          ))}
        </select>
      </label>
      <label className="flex flex-col text-xs text-slate-600">
        Target
        <input
          name="target"
          defaultValue={v("target")}
          placeholder="sha256:…, repository:reg/apps/x, stage:prod, request:…, registry:…"
          className={`${input} w-72`}
        />
      </label>
      <label className="flex flex-col text-xs text-slate-600">
        Outcome
        <select name="outcome" defaultValue={v("outcome")} className={input}>
          <option value="">any</option>
          {OUTCOMES.map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      </label>
      <label className="flex flex-col text-xs text-slate-600">
        From
        <input name="from" type="date" defaultValue={v("from").slice(0, 10)} className={input} />
      </label>
      <label className="flex flex-col text-xs text-slate-600">
        To
        <input name="to" type="date" defaultValue={v("to").slice(0, 10)} className={input} />
      </label>
      <button className="rounded bg-slate-800 px-3 py-1 text-white hover:bg-slate-700">Filter</button>
      <a href="/audit" className="px-2 py-1 text-sky-700 hover:underline">
        Clear
      </a>
    </form>
  );
}

/** One audit event: its sentence, and the raw row behind a disclosure. */
function AuditEventRow({ e }: { e: AuditPageData["events"][number] }) {
  return (
    <li className="px-3 py-2" data-testid="audit-row" data-action={e.action}>
      <div className="flex items-baseline gap-3">
        <span className="w-14 shrink-0 font-mono text-xs text-slate-500">#{e.seq}</span>
        <time dateTime={e.at} className="w-36 shrink-0 whitespace-nowrap text-xs text-slate-500">
          {e.at.slice(0, 19).replace("T", " ")} UTC
        </time>
        <span className={`flex-1 ${e.outcome === "success" ? "" : "text-rose-800"}`}>
          <AuditSentence segments={renderAuditEvent(e)} />
          {e.outcome !== "success" && <span className="ml-2 rounded bg-rose-100 px-1 text-[11px] font-semibold uppercase">{e.outcome}</span>}
        </span>
        <span className="shrink-0 font-mono text-[11px] text-slate-500">{e.action}</span>
      </div>
      <details className="ml-14 mt-1 text-xs">
        <summary className="cursor-pointer text-slate-500">raw</summary>
        <pre className="mt-1 overflow-x-auto rounded bg-slate-50 p-2 text-[11px]">{JSON.stringify({ ...e, detail: e.detail }, null, 2)}</pre>
      </details>
    </li>
  );
}

/** One page of events, newest first. */
function AuditEventList({ page }: { page: AuditPageData }) {
  return (
    <ol className="divide-y divide-slate-100 overflow-hidden rounded-lg border border-slate-200 bg-white text-sm">
      {page.events.length === 0 && <li className="px-3 py-4 text-slate-500">No events match these filters.</li>}
      {page.events.map((e) => (
        <AuditEventRow key={e.seq} e={e} />
      ))}
    </ol>
  );
}

export default async function AuditPage({ searchParams }: { searchParams: Promise<SP> }) {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  if (!hasRole(actor, ["admin", "manager"])) {
    return (
      <p role="alert" className="rounded bg-rose-50 p-4 text-rose-800">
        The audit trail is open to admins and managers.
      </p>
    );
  }
  const raw = toParams(await searchParams);
  // "Check against checkpoints" reads every checkpoint from the registry: on request, not on every view.
  const checkAnchors = raw.get("verify") === "checkpoints";
  raw.delete("verify");
  let parsed: ReturnType<typeof parseAuditQuery> | null = null;
  let error: string | null = null;
  try {
    parsed = parseAuditQuery(raw, { defaultLimit: 100, maxLimit: 200 });
  } catch (e) {
    if (!isAppError(e)) throw e;
    error = e.message;
  }
  // The chain is verified from the last verified row on (a full check: `imprimatur audit verify`).
  const [page, chain, anchors, failures] = await Promise.all([
    parsed ? listAuditEvents({ actor, filter: parsed.filter, cursor: parsed.cursor, limit: parsed.limit }) : null,
    verifyAuditChain({ from: "checkpoint" }),
    checkAnchors ? verifyAuditCheckpoints({ actor }) : null,
    summarizeAuthFailures({ since: new Date(Date.now() - 24 * 3600_000) }),
  ]);
  const filterQs = parsed ? auditFilterParams(parsed.filter) : new URLSearchParams();
  const exportQs = new URLSearchParams(filterQs);
  // The export needs a range; without one the button offers the last EXPORT_MAX_DAYS days.
  if (!exportQs.has("from")) exportQs.set("from", new Date(Date.now() - (EXPORT_MAX_DAYS - 1) * 86_400_000).toISOString().slice(0, 10));
  const nextQs = new URLSearchParams(filterQs);
  if (page?.next) nextQs.set("cursor", page.next);
  return (
    <div className="space-y-4">
      <AuditHeader chain={chain} exportQs={exportQs} />
      {failures.length > 0 && <AuthFailures failures={failures} />}
      <CheckpointsSection anchors={anchors} raw={raw} />
      <AuditFilterForm raw={raw} />
      {error && (
        <p role="alert" data-testid="filter-error" className="rounded bg-rose-50 p-3 text-sm text-rose-800">
          {error}
        </p>
      )}
      {page && <AuditEventList page={page} />}
      {page?.next && (
        <a data-testid="older" className="text-sm text-sky-700 hover:underline" href={`/audit?${nextQs}`}>
          Older events →
        </a>
      )}
    </div>
  );
}
