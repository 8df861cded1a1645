import type { Segment } from "@/lib/audit-catalogue";

/** An audit event rendered as words; links and digests from the catalogue's segments. */
export function AuditSentence({ segments }: { segments: Segment[] }) {
  return (
    <span data-testid="audit-sentence">
      {segments.map((s, i) =>
        typeof s === "string" ? (
          <span key={i}>{s}</span>
        ) : s.href ? (
          <a key={i} href={s.href} title={s.title} className={`text-sky-700 hover:underline ${s.mono ? "font-mono text-xs" : ""}`}>
            {s.text}
          </a>
        ) : (
          <span key={i} title={s.title} className={s.mono ? "font-mono text-xs" : undefined}>
            {s.text}
          </span>
        ),
      )}
    </span>
  );
}
