"use client";
import { useMutation } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "../api";
import { imageHref, shortDigest, utc } from "./format";

export interface WaiverRow {
  id: string;
  stage: string;
  gate: string;
  vulnIds: string[];
  registry: string;
  repository: string;
  digest: string | null;
  reason: string;
  grantedBy: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  state: string;
  /** Why an active waiver does not count in gates now (its grantor is disabled or out of the waiver group), or null. */
  notCounted: string | null;
  usedBy: { requestId: string; reviewer: string }[];
  canRevoke: boolean;
}

const stateStyle: Record<string, string> = {
  active: "bg-amber-100 text-amber-900",
  expired: "bg-slate-100 text-slate-700",
  revoked: "bg-slate-200 text-slate-600 line-through",
};

function RevokeWaiver({ id }: { id: string }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const revoke = useMutation({
    mutationFn: () => api(`/api/v1/waivers/${id}`, { method: "DELETE", body: JSON.stringify({ reason }) }),
    onSuccess: () => {
      setOpen(false);
      router.refresh();
    },
  });
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)} className="rounded border border-rose-300 px-2 py-0.5 text-xs text-rose-700 hover:bg-rose-50">
        Revoke…
      </button>
    );
  }
  return (
    <form
      className="space-y-1"
      onSubmit={(e) => {
        e.preventDefault();
        revoke.mutate();
      }}
    >
      <label className="block text-xs">
        <span className="block text-slate-600">Reason for revoking</span>
        <input
          name="revokeReason"
          value={reason}
          onChange={(e) => setReason(e.target.value)}
          required
          minLength={3}
          maxLength={2000}
          className="w-48 rounded border border-slate-300 px-2 py-1 text-xs"
        />
      </label>
      {revoke.error && (
        <p role="alert" className="rounded bg-rose-50 px-2 py-1 text-xs text-rose-700">
          {revoke.error.message}
        </p>
      )}
      <div className="flex gap-1">
        <button
          type="submit"
          disabled={revoke.isPending || reason.trim().length < 3}
          className="rounded bg-rose-700 px-2 py-0.5 text-xs font-medium text-white disabled:opacity-50"
        >
          Revoke
        </button>
        <button type="button" onClick={() => setOpen(false)} className="rounded border border-slate-300 px-2 py-0.5 text-xs">
          Cancel
        </button>
      </div>
    </form>
  );
}

export function WaiversTable({ waivers }: { waivers: WaiverRow[] }) {
  if (waivers.length === 0) return <p className="rounded border border-dashed border-slate-300 p-4 text-sm text-slate-500">No waivers have been granted.</p>;
  return (
    <table className="w-full overflow-hidden rounded-lg border border-slate-200 bg-white text-sm" data-testid="waivers">
      <thead className="bg-slate-50 text-left text-xs uppercase text-slate-500">
        <tr>
          <th className="px-3 py-2">State</th>
          <th className="px-3 py-2">Stage · gate</th>
          <th className="px-3 py-2">Scope</th>
          <th className="px-3 py-2">Reason</th>
          <th className="px-3 py-2">Granted</th>
          <th className="px-3 py-2">Expires (UTC)</th>
          <th className="px-3 py-2">Used by</th>
          <th className="px-3 py-2">
            <span className="sr-only">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {waivers.map((w) => (
          <tr key={w.id} className="border-t border-slate-100 align-top" data-testid="waiver-row" data-waiver-id={w.id} data-state={w.state}>
            <td className="px-3 py-2">
              <span className={`rounded px-2 py-0.5 text-xs font-medium ${stateStyle[w.state] ?? "bg-slate-100"}`}>{w.state}</span>
              {w.notCounted && (
                <span className="mt-1 block text-xs text-rose-700" data-testid="waiver-not-counted">
                  not counted: {w.notCounted}
                </span>
              )}
            </td>
            <td className="px-3 py-2">
              <span className="whitespace-nowrap">
                <span className="font-medium">{w.stage}</span> · {w.gate}
              </span>
              {w.vulnIds.length > 0 && (
                <p className="mt-0.5 font-mono text-xs text-slate-600">
                  {w.vulnIds.map((v, i) => (
                    <span key={v} className="whitespace-nowrap">
                      {v}
                      {i < w.vulnIds.length - 1 ? ", " : ""}
                    </span>
                  ))}
                </p>
              )}
            </td>
            <td className="px-3 py-2 text-xs">
              {w.digest ? (
                <a href={imageHref(w.repository, w.digest, w.registry)} className="font-mono text-sky-700 hover:underline" title={w.digest}>
                  {w.repository}@{shortDigest(w.digest)}
                </a>
              ) : (
                <span className="font-mono">
                  {w.repository} <span className="font-sans text-slate-500">(every digest)</span>
                </span>
              )}
            </td>
            <td className="max-w-xs px-3 py-2 text-xs">{w.reason}</td>
            <td className="px-3 py-2 text-xs">
              {w.grantedBy}
              <br />
              <span className="text-slate-500">{utc(w.createdAt)}</span>
            </td>
            <td className="px-3 py-2 text-xs">
              {new Date(w.expiresAt).toLocaleString("en-GB", { timeZone: "UTC" })}
              {w.revokedAt && (
                <>
                  <br />
                  <span className="text-slate-500">revoked {utc(w.revokedAt)}</span>
                </>
              )}
            </td>
            <td className="px-3 py-2 text-xs">
              {w.usedBy.length === 0 ? (
                <span className="text-slate-500">–</span>
              ) : (
                w.usedBy.map((u) => (
                  <div key={`${u.requestId}-${u.reviewer}`}>
                    <Link href={`/requests/${u.requestId}`} className="text-sky-700 hover:underline">
                      request {u.requestId.slice(0, 8)}
                    </Link>{" "}
                    <span className="text-slate-500">({u.reviewer})</span>
                  </div>
                ))
              )}
            </td>
            <td className="px-3 py-2">{w.canRevoke && <RevokeWaiver id={w.id} />}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
