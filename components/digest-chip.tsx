"use client";
import { useState } from "react";

/** A shortened digest with a copy button that copies the full digest. */
export function DigestChip({ digest, href }: { digest: string; href?: string }) {
  const [copied, setCopied] = useState(false);
  const short = digest.replace(/^sha256:/, "").slice(0, 12);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(digest);
    } catch {
      // Clipboard may be unavailable (insecure origin); fall back to a selection the user can copy.
      window.prompt("Copy the digest", digest);
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1200);
  };
  return (
    <span className="inline-flex items-center gap-1 rounded bg-slate-100 px-1.5 py-0.5 font-mono text-xs text-slate-700" title={digest}>
      {href ? (
        <a href={href} className="hover:underline" data-testid="digest-link">
          sha256:{short}
        </a>
      ) : (
        <span>sha256:{short}</span>
      )}
      <button type="button" onClick={copy} className="rounded px-1 text-slate-500 hover:bg-slate-200 hover:text-slate-800" aria-label={`Copy digest ${digest}`}>
        {copied ? (
          "✓"
        ) : (
          <svg viewBox="0 0 16 16" className="h-3 w-3" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
            <rect x="5" y="5" width="9" height="9" rx="1.5" />
            <path d="M11 5V3.5A1.5 1.5 0 0 0 9.5 2h-6A1.5 1.5 0 0 0 2 3.5v6A1.5 1.5 0 0 0 3.5 11H5" />
          </svg>
        )}
      </button>
    </span>
  );
}
