"use client";
import { useId, useState } from "react";

const FORMATS = [
  { value: "kyverno", label: "Kyverno ImageValidatingPolicy (policies.kyverno.io/v1)" },
  { value: "kyverno-clusterpolicy", label: "Kyverno ClusterPolicy verifyImages (kyverno.io/v1)" },
  { value: "policy-controller", label: "Sigstore policy-controller ClusterImagePolicy (v1beta1)" },
  { value: "cosign", label: "cosign verify script for a pipeline" },
] as const;

/**
 * Downloads the stage's admission policy (GET /api/v1/stages/{name}/policies). Fetched first so a refusal (no key,
 * no images) is shown as the server's sentence instead of being saved as a file.
 */
export function StagePolicyDownload({ stage }: { stage: string }) {
  const id = useId();
  const [format, setFormat] = useState<string>("kyverno");
  const [images, setImages] = useState("");
  const [summary, setSummary] = useState(false);
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "error" | "done"; text?: string }>({ kind: "idle" });

  async function download(e: React.FormEvent) {
    e.preventDefault();
    setStatus({ kind: "busy" });
    const q = new URLSearchParams({ format });
    if (images.trim()) q.set("images", images.trim());
    if (summary) q.set("requireVerificationSummary", "true");
    try {
      const res = await fetch(`/api/v1/stages/${encodeURIComponent(stage)}/policies?${q}`, { credentials: "same-origin" });
      if (!res.ok) {
        const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
        setStatus({ kind: "error", text: body?.error?.message ?? `HTTP ${res.status}` });
        return;
      }
      const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? `imprimatur-${stage}-${format}.txt`;
      const url = URL.createObjectURL(await res.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setStatus({ kind: "done", text: `Downloaded ${name}` });
    } catch {
      setStatus({ kind: "error", text: "the server could not be reached" });
    }
  }

  return (
    <details className="mt-2 text-sm" data-testid="stage-policy">
      <summary className="cursor-pointer text-slate-700">Admission policy for clusters</summary>
      <form onSubmit={download} className="mt-2 grid gap-2 sm:grid-cols-2">
        <label htmlFor={`${id}-f`} className="text-xs text-slate-600">
          Format
          <select
            id={`${id}-f`}
            value={format}
            onChange={(e) => setFormat(e.target.value)}
            className="mt-0.5 w-full rounded border border-slate-300 px-2 py-1.5 text-sm"
          >
            {FORMATS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
        <label htmlFor={`${id}-i`} className="text-xs text-slate-600">
          Images (optional globs, comma-separated; default: repositories with requests for this stage)
          <input
            id={`${id}-i`}
            value={images}
            onChange={(e) => setImages(e.target.value)}
            placeholder="registry.example/team/*"
            className="mt-0.5 w-full rounded border border-slate-300 px-2 py-1.5 font-mono text-sm"
          />
        </label>
        <label className="flex items-center gap-2 text-xs text-slate-600 sm:col-span-2">
          <input type="checkbox" checked={summary} onChange={(e) => setSummary(e.target.checked)} />
          Also require the signed verification summary (SLSA VSA, result PASSED)
        </label>
        <div className="flex items-center gap-3 sm:col-span-2">
          <button
            type="submit"
            disabled={status.kind === "busy"}
            className="rounded bg-slate-800 px-3 py-1.5 text-sm text-white hover:bg-slate-700 disabled:opacity-60"
          >
            {status.kind === "busy" ? "Generating…" : "Download policy"}
          </button>
          <span role="status" aria-live="polite" className={status.kind === "error" ? "text-red-700" : "text-slate-600"} data-testid="stage-policy-status">
            {status.kind === "error" ? `Not generated: ${status.text}` : (status.text ?? "")}
          </span>
        </div>
      </form>
    </details>
  );
}
