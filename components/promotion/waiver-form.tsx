"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "../api";
import { dateInputValue } from "./format";

const VULN_ID = /\b(?:CVE-\d{4}-\d{4,}|GHSA(?:-[0-9a-z]{4}){3}|[A-Z]{2,10}-\d{4}-\d+)\b/g;
const box = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";

/** The vulnerability ids a findings failure names, in order, without duplicates. */
export function vulnIdsFromDetail(detail: string): string[] {
  return [...new Set(detail.match(VULN_ID) ?? [])];
}

/**
 * Grant a waiver for one failing gate of a request: pre-filled with the gate and, for findings, the ids the
 * failure names. Scope is this digest (default) or the whole repository. The server checks the waiver group and
 * four eyes; its refusal is shown as is.
 */
export function WaiverForm(props: {
  requestId: string;
  stage: string;
  registry: string;
  repository: string;
  digest: string;
  gate: { gate: string; label: string; detail: string; failingIds?: string[] };
}) {
  const { requestId, stage, registry, repository, digest, gate } = props;
  const router = useRouter();
  const [openForm, setOpenForm] = useState(false);
  // The server lists every failing id; the detail text names only the first few ("… and N more").
  const named = gate.gate === "findings" ? (gate.failingIds ?? vulnIdsFromDetail(gate.detail)) : [];
  const truncated = gate.gate === "findings" && !gate.failingIds && /\band \d+ more\b/.test(gate.detail);
  const [vulnIds, setVulnIds] = useState(named.join(", "));
  const [scope, setScope] = useState<"digest" | "repository">("digest");
  const [reason, setReason] = useState("");
  const [expires, setExpires] = useState(dateInputValue(30));
  const grant = useMutation({
    mutationFn: () =>
      api<{ id: string }>("/api/v1/waivers", {
        method: "POST",
        body: JSON.stringify({
          stage,
          gate: gate.gate,
          vulnIds: vulnIds.split(/[\s,]+/).filter(Boolean),
          registry,
          repository,
          digest: scope === "digest" ? digest : null,
          reason,
          // The end of the chosen day, UTC: a waiver "until 2025-07-01" still counts on that day.
          expiresAt: new Date(`${expires}T23:59:59Z`).toISOString(),
          requestId,
        }),
      }),
    onSuccess: () => {
      setOpenForm(false);
      router.refresh();
    },
  });
  if (!openForm) {
    return (
      <button
        type="button"
        onClick={() => setOpenForm(true)}
        className="rounded border border-amber-400 bg-white px-2 py-1 text-xs font-medium text-amber-900 hover:bg-amber-50"
      >
        Waive {gate.label}…
      </button>
    );
  }
  return (
    <form
      className="mt-2 grid gap-2 rounded border border-amber-300 bg-amber-50/50 p-3 sm:grid-cols-2"
      onSubmit={(e) => {
        e.preventDefault();
        grant.mutate();
      }}
      data-testid={`waiver-form-${gate.gate}`}
    >
      <h3 className="text-sm font-semibold sm:col-span-2">
        Waive gate “{gate.label}” for stage {stage}
      </h3>
      <label className="text-sm">
        <span className="block text-slate-600">Gate</span>
        <input name="gate" value={gate.gate} readOnly className={`${box} bg-slate-50 font-mono`} />
      </label>
      <label className="text-sm">
        <span className="block text-slate-600">Scope</span>
        <select name="scope" value={scope} onChange={(e) => setScope(e.target.value as "digest" | "repository")} className={box}>
          <option value="digest">this digest only</option>
          <option value="repository">every digest of {repository}</option>
        </select>
      </label>
      {gate.gate === "findings" && (
        <label className="text-sm sm:col-span-2">
          <span className="block text-slate-600">Vulnerability ids (comma-separated; empty waives the whole gate)</span>
          <input name="vulnIds" value={vulnIds} onChange={(e) => setVulnIds(e.target.value)} className={`${box} font-mono`} />
          {truncated && (
            <span className="mt-1 block text-xs text-amber-900">
              The gate names only the first few ids; list them all (see the Vulnerabilities tab) or leave this empty to waive the whole gate.
            </span>
          )}
        </label>
      )}
      <label className="text-sm sm:col-span-2">
        <span className="block text-slate-600">Waiver reason</span>
        <textarea
          name="waiverReason"
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          required
          minLength={5}
          maxLength={2000}
          rows={2}
          placeholder="Why this risk is accepted, and until what"
          className={box}
        />
      </label>
      <label className="text-sm">
        <span className="block text-slate-600">Expires (end of day, UTC)</span>
        <input
          type="date"
          name="expires"
          value={expires}
          min={dateInputValue(1)}
          max={dateInputValue(365)}
          onChange={(e) => setExpires(e.target.value)}
          required
          className={box}
        />
      </label>
      {grant.error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700 sm:col-span-2">
          {grant.error.message}
        </p>
      )}
      <div className="flex gap-2 sm:col-span-2">
        <button
          type="submit"
          disabled={grant.isPending || reason.trim().length < 5 || !expires}
          className="rounded bg-amber-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-amber-500 disabled:opacity-50"
        >
          {grant.isPending ? "Granting…" : "Grant waiver"}
        </button>
        <button type="button" onClick={() => setOpenForm(false)} className="rounded border border-slate-300 px-3 py-1.5 text-sm">
          Cancel
        </button>
      </div>
    </form>
  );
}
