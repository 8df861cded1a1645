const COLORS: Record<string, string> = {
  critical: "bg-rose-700",
  high: "bg-orange-500",
  medium: "bg-amber-400",
  low: "bg-sky-400",
  negligible: "bg-slate-300",
  unknown: "bg-slate-400",
};

/** Horizontal bars of applicable findings per severity. */
export function SeverityChart({ counts }: { counts: Record<string, number> }) {
  const max = Math.max(1, ...Object.values(counts));
  return (
    <div className="space-y-1" data-testid="severity-chart">
      {Object.entries(counts).map(([sev, n]) => (
        <div key={sev} className="flex items-center gap-2 text-xs">
          <span className="w-20 capitalize text-slate-600">{sev}</span>
          <div className="h-3 flex-1 rounded bg-slate-100">
            <div className={`h-3 rounded ${COLORS[sev] ?? "bg-slate-400"}`} style={{ width: `${(n / max) * 100}%` }} />
          </div>
          <span className="w-10 text-right font-mono" data-testid={`sev-${sev}`}>
            {n}
          </span>
        </div>
      ))}
    </div>
  );
}

/** Compact "2C 5H 1M" summary for the list. */
export function SeveritySummary({ counts }: { counts: Record<string, number> | null }) {
  if (!counts) return <span className="text-slate-500">no scan</span>;
  const parts = (["critical", "high", "medium", "low"] as const).map((s) => [s, counts[s] ?? 0] as const);
  if (parts.every(([, n]) => n === 0)) return <span className="text-emerald-700">no findings</span>;
  return (
    <span className="font-mono">
      {parts.map(([s, n]) => (
        <span
          key={s}
          className={
            n ? (s === "critical" ? "text-rose-700" : s === "high" ? "text-orange-700" : s === "medium" ? "text-amber-700" : "text-sky-700") : "text-slate-500"
          }
        >
          {n}
          {s[0]!.toUpperCase()}{" "}
        </span>
      ))}
    </span>
  );
}
