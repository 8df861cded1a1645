const requestStyle: Record<string, string> = {
  open: "bg-sky-100 text-sky-800",
  approved: "bg-amber-100 text-amber-900",
  signed: "bg-emerald-100 text-emerald-800",
  rejected: "bg-rose-100 text-rose-800",
  withdrawn: "bg-slate-100 text-slate-700",
  expired: "bg-amber-100 text-amber-900",
  revoked: "bg-rose-100 text-rose-800",
};

/** A request's status; "approved" means the Nth approval is in but the signature is not yet in the registry. */
export function RequestStatusBadge({ status }: { status: string }) {
  const label = status === "approved" ? "signature pending" : status;
  return (
    <span className={`inline-block rounded px-2 py-0.5 text-xs font-medium ${requestStyle[status] ?? "bg-slate-100"}`} data-testid="request-status">
      {label}
    </span>
  );
}

export function GateBadge({ passed, waived }: { passed: boolean; waived: boolean }) {
  if (!passed) return <span className="inline-block rounded bg-rose-100 px-2 py-0.5 text-xs font-semibold text-rose-800 ring-1 ring-rose-300">failed</span>;
  if (waived) return <span className="inline-block rounded bg-amber-100 px-2 py-0.5 text-xs font-semibold text-amber-900 ring-1 ring-amber-300">waived</span>;
  return <span className="inline-block rounded bg-emerald-100 px-2 py-0.5 text-xs font-semibold text-emerald-800 ring-1 ring-emerald-300">passed</span>;
}

export function BreakGlassMarker() {
  return (
    <span className="inline-block rounded bg-rose-700 px-1.5 py-0.5 text-[10px] font-bold uppercase tracking-wide text-white" data-testid="break-glass-marker">
      break glass
    </span>
  );
}
