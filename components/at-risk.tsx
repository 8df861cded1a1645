export interface AtRiskEntry {
  stage: string;
  since: string;
  reasons: string[];
  revokeAt: string | null;
}

/**
 * Approved stages whose approval no longer holds (failing gates, or fewer approvals that count than the stage requires
 * now): which, since when, why, and when the approval is revoked unless it holds again by then.
 */
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
              — revoked at <time dateTime={r.revokeAt}>{r.revokeAt.replace("T", " ").slice(0, 16)} UTC</time> unless waived or fixed
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
