const verdictStyle = {
  verified: "bg-emerald-100 text-emerald-800 ring-emerald-300",
  unverified: "bg-amber-100 text-amber-800 ring-amber-300",
  invalid: "bg-rose-100 text-rose-800 ring-rose-300",
} as const;

export function VerdictBadge({ verdict }: { verdict: keyof typeof verdictStyle }) {
  const label = verdict === "unverified" ? "not verified" : verdict;
  return <span className={`inline-block rounded px-2 py-0.5 text-xs font-semibold ring-1 ${verdictStyle[verdict]}`}>{label}</span>;
}

const stageStyle: Record<string, string> = {
  approved: "bg-emerald-100 text-emerald-800",
  "signature pending": "bg-sky-100 text-sky-800",
  "signed, not verified": "bg-amber-100 text-amber-800",
  revoked: "bg-rose-100 text-rose-800",
  "approval expired": "bg-orange-100 text-orange-800",
  "not approved": "bg-slate-100 text-slate-700",
};

export function StageBadge({ state }: { state: string }) {
  return <span className={`inline-block rounded px-2 py-0.5 text-xs font-medium ${stageStyle[state] ?? "bg-slate-100"}`}>{state}</span>;
}

export function RoleBadge({ role }: { role: string }) {
  return <span className="rounded bg-slate-700 px-1.5 py-0.5 text-[10px] font-semibold uppercase tracking-wide text-slate-100">{role}</span>;
}
