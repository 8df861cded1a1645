"use client";
import { useRouter } from "next/navigation";
import { useState } from "react";
import type { ImportAdvisoriesResult } from "@/lib/server/advisories/import-advisories";

// The import's answer, as the server action declares it (a type import: nothing server-side reaches the browser).
type Result = ImportAdvisoriesResult;

/** Uploads an OSV record, a JSON array of records, or an osv.dev ecosystem all.zip to POST /api/v1/advisories. */
export function AdvisoryUpload() {
  const router = useRouter();
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function upload(file: File) {
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      const zip = /\.zip$/i.test(file.name) || file.type.includes("zip");
      const res = await fetch("/api/v1/advisories", { method: "POST", headers: { "content-type": zip ? "application/zip" : "application/json" }, body: file });
      const body = (await res.json().catch(() => null)) as (Result & { error?: { message: string } }) | null;
      if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`);
      setResult(body);
      router.refresh();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="space-y-2 rounded-lg border border-slate-200 bg-white p-4">
      <label className="block text-sm font-medium">
        Import OSV advisories (one record, a JSON array, or an osv.dev ecosystem <span className="font-mono">all.zip</span>)
        <input
          type="file"
          accept=".json,.zip,application/json,application/zip"
          disabled={busy}
          className="mt-1 block text-sm"
          aria-label="Advisory file"
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) void upload(f);
          }}
        />
      </label>
      {busy && <p className="text-sm text-slate-500">Importing and matching against every stored SBOM…</p>}
      {error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {error}
        </p>
      )}
      {result && (
        <p className="text-sm text-emerald-800" data-testid="advisory-result">
          {result.records} record(s): {result.created} new, {result.updated} updated, {result.unchanged} unchanged, {result.skipped} skipped
          {result.skipped
            ? ` (unknown ecosystems: ${Object.entries(result.skippedEcosystems)
                .map(([k, v]) => `${k} ${v}`)
                .join(", ")})`
            : ""}
          ; {result.findings} finding(s) on {result.images} image(s). Approved images are re-evaluated.
        </p>
      )}
    </div>
  );
}
