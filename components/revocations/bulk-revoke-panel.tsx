"use client";
import { useEffect, useState } from "react";
import { api } from "../api";
import { ConfirmDialog } from "../confirm-dialog";

interface Item {
  approvalId: string;
  registry: string;
  repository: string;
  digest: string;
  stage: string;
  status: string;
  approvedAt: string;
  requester: string | null;
  viaIndexOf: string | null;
  outcome?: string | null;
}
interface Plan {
  dryRun: boolean;
  id?: string;
  status?: string;
  images: number;
  approvals: number;
  items: Item[];
  notify: { requesters: string[]; reviewers: string[] };
}
interface Progress {
  id: string;
  status: string;
  total: number;
  done: number;
  failed: number;
  confirmedBy: string | null;
  items: Item[];
}

type Result = { registry: string; repository: string; digest: string };
const key = (r: Result) => `${r.registry}/${r.repository}@${r.digest}`;

/** The panel's choices (stages, which results, reason), the plan the server returned, and the polled job progress. */
function useBulkRevocation(query: string, results: Result[]) {
  const [chosenStages, setStages] = useState<string[]>([]);
  const [all, setAll] = useState(true);
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [reason, setReason] = useState("");
  const [plan, setPlan] = useState<Plan | null>(null);
  const [progress, setProgress] = useState<Progress | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [asking, setAsking] = useState(false);

  // Confirming sends what the dry run listed: the server refuses (409) if its plan now differs.
  const body = (dryRun: boolean) =>
    JSON.stringify({
      query,
      stages: chosenStages,
      reason,
      dryRun,
      ...(all ? {} : { images: results.filter((r) => picked.has(key(r))) }),
      ...(!dryRun && plan?.dryRun ? { expectApprovals: plan.items.map((i) => i.approvalId) } : {}),
    });

  async function run(dryRun: boolean) {
    setBusy(true);
    setError(null);
    try {
      const r = await api<Plan>("/api/v1/revocations", { method: "POST", body: body(dryRun) });
      setPlan(r);
      if (!dryRun && r.id) setProgress(await api<Progress>(`/api/v1/revocations/${r.id}`));
      setAsking(false);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    if (!progress || progress.status === "done" || progress.status === "awaiting-confirmation") return;
    const t = setTimeout(() => void api<Progress>(`/api/v1/revocations/${progress.id}`).then(setProgress, (e: Error) => setError(e.message)), 1500);
    return () => clearTimeout(t);
  }, [progress]);

  // A change of scope voids the dry run: its list no longer says what would go, so it cannot be confirmed.
  const scoped =
    <T,>(set: (v: T) => void) =>
    (v: T) => {
      setPlan(null);
      set(v);
    };
  return {
    chosenStages,
    setStages: scoped(setStages),
    all,
    setAll: scoped(setAll),
    picked,
    setPicked: scoped(setPicked),
    reason,
    setReason,
    plan,
    progress,
    error,
    busy,
    asking,
    setAsking,
    run,
  };
}

type BulkState = ReturnType<typeof useBulkRevocation>;

/** What to revoke: the stages, and every search result or a hand-picked few. */
function BulkScope({ b, stages, results }: { b: BulkState; stages: string[]; results: Result[] }) {
  const { chosenStages, setStages, all, setAll, picked, setPicked } = b;
  return (
    <>
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <span className="text-slate-600">Stages:</span>
        {stages.map((s) => (
          <label key={s} className="inline-flex items-center gap-1">
            <input
              type="checkbox"
              checked={chosenStages.includes(s)}
              onChange={(e) => setStages(e.target.checked ? [...chosenStages, s] : chosenStages.filter((x) => x !== s))}
            />{" "}
            {s}
          </label>
        ))}
      </div>
      <div className="text-sm">
        <label className="inline-flex items-center gap-1">
          <input type="checkbox" checked={all} onChange={(e) => setAll(e.target.checked)} /> every result of this search (the dry run lists them all)
        </label>
        {!all && (
          <ul className="mt-2 max-h-48 space-y-0.5 overflow-auto font-mono text-xs">
            {results.map((r) => (
              <li key={key(r)}>
                <label className="inline-flex items-center gap-1">
                  <input
                    type="checkbox"
                    checked={picked.has(key(r))}
                    onChange={(e) => {
                      const n = new Set(picked);
                      if (e.target.checked) n.add(key(r));
                      else n.delete(key(r));
                      setPicked(n);
                    }}
                  />{" "}
                  {key(r).slice(0, 90)}
                </label>
              </li>
            ))}
          </ul>
        )}
      </div>
    </>
  );
}

/** The confirmation after a dry run: the reason, who is notified, and every approval that goes. */
function BulkRevokeConfirm({ b }: { b: BulkState }) {
  const { plan, asking, setAsking, reason, busy, error, run } = b;
  return (
    <ConfirmDialog
      open={asking && Boolean(plan?.dryRun)}
      title={`Revoke ${plan?.approvals ?? 0} approval${plan?.approvals === 1 ? "" : "s"} on ${plan?.images ?? 0} image${plan?.images === 1 ? "" : "s"}?`}
      confirmLabel="Revoke approvals"
      pendingLabel="Starting…"
      ready={reason.trim().length >= 3}
      pending={busy}
      error={error}
      onCancel={() => setAsking(false)}
      onConfirm={() => void run(false)}
      testId="confirm-bulk-revoke"
    >
      <p>
        For: &quot;{reason.trim() || "(no reason yet: enter one first)"}&quot;. Verify and ImageReview deny these stages from now on and their signature layers
        leave the registry; the requesters ({plan?.notify.requesters.length ?? 0}) and reviewers ({plan?.notify.reviewers.length ?? 0}) are notified by webhook.
        It cannot be undone.
      </p>
      <ul className="max-h-60 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
        {(plan?.items ?? []).map((i) => (
          <li key={i.approvalId}>
            {i.stage} · {i.registry}/{i.repository}@{i.digest.slice(0, 19)}…
          </li>
        ))}
      </ul>
    </ConfirmDialog>
  );
}

/** The dry run's or the job's summary, its progress, and one row per approval with its outcome. */
function BulkPlanView({ plan, progress }: { plan: Plan; progress: Progress | null }) {
  return (
    <div className="text-sm">
      <p data-testid="bulk-summary">
        {plan.dryRun ? "Would revoke" : "Revoking"} {plan.approvals} approval{plan.approvals === 1 ? "" : "s"} on {plan.images} image
        {plan.images === 1 ? "" : "s"}; notifies {plan.notify.requesters.length} requester(s) and {plan.notify.reviewers.length} reviewer(s) by webhook.
      </p>
      {progress && (
        <p data-testid="bulk-progress" className="font-medium" role="status" aria-live="polite">
          {progress.status === "awaiting-confirmation" ? (
            <>
              Waiting for a second person to confirm:{" "}
              <a className="text-sky-700 underline" href={`/revocations/${progress.id}`}>
                /revocations/{progress.id}
              </a>
            </>
          ) : (
            <>
              {progress.status}: {progress.done + progress.failed} of {progress.total} ({progress.failed} failed)
            </>
          )}
        </p>
      )}
      {progress && progress.status !== "awaiting-confirmation" && (
        <progress className="w-full" max={progress.total || 1} value={progress.done + progress.failed} aria-label="Revocation progress" />
      )}
      <table className="mt-2 w-full bg-white text-xs">
        <thead className="text-left text-slate-500">
          <tr>
            <th className="px-2 py-1">Image</th>
            <th className="px-2 py-1">Stage</th>
            <th className="px-2 py-1">Approval</th>
            <th className="px-2 py-1">Outcome</th>
          </tr>
        </thead>
        <tbody>
          {(progress?.items ?? plan.items).map((i) => (
            <tr key={i.approvalId} className="border-t border-slate-100" data-testid="bulk-item">
              <td className="px-2 py-1 font-mono">
                {i.registry}/{i.repository}@{i.digest.slice(7, 19)}
                {i.viaIndexOf ? ` (index of ${i.viaIndexOf.slice(7, 19)})` : ""}
              </td>
              <td className="px-2 py-1">{i.stage}</td>
              <td className="px-2 py-1 font-mono">
                {i.approvalId.slice(0, 8)} · {i.status} · {i.approvedAt.slice(0, 10)}
                {i.requester ? ` · ${i.requester}` : ""}
              </td>
              <td className="px-2 py-1">{i.outcome ?? (plan.dryRun ? "would be revoked" : "queued")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/**
 * From a fleet search to a bulk revocation: choose the results (or all) and the stages, see exactly what would change
 * (dry run), then confirm; the job's progress is polled. With two-person confirmation, another reviewer or admin
 * confirms it from /revocations/{id}.
 */
export function BulkRevokePanel({
  query,
  stages,
  results,
}: {
  query: string;
  stages: string[];
  results: { registry: string; repository: string; digest: string }[];
}) {
  const b = useBulkRevocation(query, results);
  const { reason, setReason, plan, progress, error, busy, asking, setAsking, run, chosenStages } = b;
  return (
    <section className="space-y-3 rounded-lg border border-rose-200 bg-rose-50/40 p-4" aria-labelledby="bulk-h" data-testid="bulk-revoke">
      <h2 id="bulk-h" className="text-lg font-semibold">
        Revoke approvals of these images
      </h2>
      <BulkScope b={b} stages={stages} results={results} />
      <input
        aria-label="Reason"
        value={reason}
        onChange={(e) => setReason(e.target.value)}
        placeholder="reason (required), e.g. CVE-2021-23337"
        className="w-full rounded border border-slate-300 px-3 py-2 text-sm"
      />
      <div className="flex gap-2">
        <button
          type="button"
          disabled={busy || !chosenStages.length}
          onClick={() => void run(true)}
          className="rounded border border-slate-400 bg-white px-3 py-1.5 text-sm disabled:opacity-50"
        >
          Dry run
        </button>
        <button
          type="button"
          disabled={busy || !plan?.dryRun || !plan.approvals}
          onClick={() => setAsking(true)}
          className="rounded bg-rose-700 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50"
          data-testid="bulk-confirm"
        >
          Revoke {plan?.dryRun ? plan.approvals : ""} approval{plan?.approvals === 1 ? "" : "s"}
        </button>
      </div>
      {error && !asking && (
        <p role="alert" className="rounded bg-rose-100 px-3 py-2 text-sm text-rose-800">
          {error}
        </p>
      )}
      <BulkRevokeConfirm b={b} />
      {plan && <BulkPlanView plan={plan} progress={progress} />}
    </section>
  );
}

/** The second person's view of a bulk revocation: progress, and the confirm button while it waits. */
export function BulkRevocationView({ initial }: { initial: Progress & { query: string; reason: string; requestedBy: string; stages: string[] } }) {
  const [p, setP] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (p.status === "done" || p.status === "awaiting-confirmation") return;
    const t = setTimeout(() => void api<typeof initial>(`/api/v1/revocations/${p.id}`).then(setP, (e: Error) => setError(e.message)), 1500);
    return () => clearTimeout(t);
  }, [p]);
  return (
    <div className="space-y-3 text-sm">
      <p>
        <span className="font-mono">{p.query}</span> · stages {p.stages.join(", ")} · by {p.requestedBy}
        {p.confirmedBy ? `, confirmed by ${p.confirmedBy}` : ""} · reason: {p.reason}
      </p>
      <p data-testid="bulk-progress" className="font-medium" role="status" aria-live="polite">
        {p.status}: {p.done + p.failed} of {p.total} ({p.failed} failed)
      </p>
      {p.status !== "awaiting-confirmation" && <progress className="w-full" max={p.total || 1} value={p.done + p.failed} aria-label="Revocation progress" />}
      {p.status === "awaiting-confirmation" && (
        <button
          type="button"
          className="rounded bg-rose-700 px-3 py-1.5 font-medium text-white"
          onClick={() => {
            setError(null);
            setAsking(true);
          }}
        >
          Confirm: revoke {p.total} approval{p.total === 1 ? "" : "s"}
        </button>
      )}
      <ConfirmDialog
        open={asking}
        title={`Revoke ${p.total} approval${p.total === 1 ? "" : "s"} as the second person?`}
        confirmLabel="Revoke approvals"
        pendingLabel="Starting…"
        pending={busy}
        error={error}
        onCancel={() => setAsking(false)}
        onConfirm={() => {
          setBusy(true);
          void api<{ status: string }>(`/api/v1/revocations/${p.id}/confirm`, { method: "POST" })
            .then(() => api<typeof initial>(`/api/v1/revocations/${p.id}`))
            .then(
              (n) => {
                setP(n);
                setAsking(false);
              },
              (e: Error) => setError(e.message),
            )
            .finally(() => setBusy(false));
        }}
        testId="confirm-bulk-revoke"
      >
        <p>
          Requested by {p.requestedBy} for: &quot;{p.reason}&quot;. Verify and ImageReview deny these stages from now on and their signature layers leave the
          registry. It cannot be undone.
        </p>
        <ul className="max-h-60 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
          {p.items.map((i) => (
            <li key={i.approvalId}>
              {i.stage} · {i.registry}/{i.repository}@{i.digest.slice(0, 19)}…
            </li>
          ))}
        </ul>
      </ConfirmDialog>
      {error && (
        <p role="alert" className="rounded bg-rose-100 px-3 py-2 text-rose-800">
          {error}
        </p>
      )}
      <ul className="space-y-0.5 font-mono text-xs">
        {p.items.map((i) => (
          <li key={i.approvalId}>
            {i.registry}/{i.repository}@{i.digest.slice(7, 19)} {i.stage}: {i.outcome ?? "—"}
          </li>
        ))}
      </ul>
    </div>
  );
}
