export interface AtRiskEntry {
  stage: string;
  since: string;
  reasons: string[];
  revokeAt: string | null;
}

/** Approved stages whose gates no longer hold: which, since when, why, and when the approval is revoked if not waived. */
export function AtRiskList({ risks, compact = false }: { risks: readonly AtRiskEntry[]; compact?: boolean }) {
  if (!risks.length) return null;
  return (
    <ul
      className={compact ? "mt-1 space-y-0.5 text-xs text-rose-800" : "space-y-1 rounded border border-rose-200 bg-rose-50 p-3 text-sm text-rose-900"}
      data-testid="at-risk"
    >
      {risks.map((r) => (
        <li key={r.stage} data-stage={r.stage}>
          <span className="font-medium">⚠ {r.stage} at risk</span> since <time dateTime={r.since}>{r.since.replace("T", " ").slice(0, 16)} UTC</time>
          {r.revokeAt ? (
            <>
              {" "}
              — revoked at <time dateTime={r.revokeAt}>{r.revokeAt.replace("T", " ").slice(0, 16)} UTC</time> unless waived
            </>
          ) : null}
          {!compact && (
            <ul className="list-disc pl-5 text-rose-800">
              {r.reasons.map((x) => (
                <li key={x}>{x}</li>
              ))}
            </ul>
          )}
          {compact && <span className="text-rose-700">: {r.reasons.join("; ")}</span>}
        </li>
      ))}
    </ul>
  );
}
