"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "./api";

export function ApproveForm({ registry, repository, digest, stages }: { registry: string; repository: string; digest: string; stages: string[] }) {
  const router = useRouter();
  const [stage, setStage] = useState(stages.includes("test") ? "test" : (stages[0] ?? ""));
  const [comment, setComment] = useState("");
  const approve = useMutation({
    mutationFn: () => api<{ status: string; pendingReason?: string }>("/api/v1/approvals", { method: "POST", body: JSON.stringify({ registry, repository, digest, stage, comment }) }),
    onSuccess: () => {
      setComment("");
      router.refresh();
    },
  });
  return (
    <form
      className="space-y-3 rounded-lg border border-slate-200 bg-white p-4"
      onSubmit={(e) => {
        e.preventDefault();
        approve.mutate();
      }}
    >
      <h2 className="font-semibold">Approve a stage</h2>
      <p className="text-xs text-slate-500">The server signs this digest with the stage key and pushes the signature to the registry, in cosign’s format.</p>
      <div className="flex gap-3">
        <label className="text-sm">
          <span className="block text-slate-600">Stage</span>
          <select name="stage" value={stage} onChange={(e) => setStage(e.target.value)} className="mt-1 rounded border border-slate-300 px-2 py-1.5">
            {stages.map((s) => (
              <option key={s} value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label className="flex-1 text-sm">
          <span className="block text-slate-600">Comment</span>
          <input name="comment" value={comment} onChange={(e) => setComment(e.target.value)} required maxLength={2000} placeholder="What you checked" className="mt-1 w-full rounded border border-slate-300 px-2 py-1.5" />
        </label>
      </div>
      {approve.error && <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">{approve.error.message}</p>}
      {approve.data?.status === "signing" && (
        <p role="status" className="rounded bg-sky-50 px-3 py-2 text-sm text-sky-800">Approved; the signature is pending: {approve.data.pendingReason}. It will be pushed by the next sync or `imprimatur retry`.</p>
      )}
      {approve.data?.status === "signed" && <p role="status" className="rounded bg-emerald-50 px-3 py-2 text-sm text-emerald-800">Approved and signed.</p>}
      <button type="submit" disabled={approve.isPending || !comment.trim()} className="rounded bg-emerald-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-emerald-600 disabled:opacity-50">
        {approve.isPending ? "Signing…" : `Approve ${stage}`}
      </button>
    </form>
  );
}
