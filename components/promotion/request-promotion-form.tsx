"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "../api";

/** Request promotion of one digest to one stage, then go to the request's page. */
export function RequestPromotionForm({ registry, repository, digest, stage }: { registry: string; repository: string; digest: string; stage: string }) {
  const router = useRouter();
  const [note, setNote] = useState("");
  const ask = useMutation({
    mutationFn: () =>
      api<{ id: string; created: boolean }>("/api/v1/requests", { method: "POST", body: JSON.stringify({ registry, repository, digest, stage, note }) }),
    onSuccess: (r) => router.push(`/requests/${r.id}`),
  });
  return (
    <form
      className="space-y-2"
      onSubmit={(e) => {
        e.preventDefault();
        ask.mutate();
      }}
    >
      <label className="block text-xs">
        <span className="block text-slate-600">Note for the reviewers</span>
        <input
          name="note"
          value={note}
          onChange={(e) => setNote(e.target.value)}
          maxLength={2000}
          placeholder="What changed, tickets, test runs"
          className="mt-0.5 w-full rounded border border-slate-300 px-2 py-1 text-sm"
        />
      </label>
      {ask.error && (
        <p role="alert" className="rounded bg-rose-50 px-2 py-1 text-xs text-rose-700">
          {ask.error.message}
        </p>
      )}
      <button
        type="submit"
        disabled={ask.isPending || ask.isSuccess}
        className="rounded bg-slate-900 px-3 py-1.5 text-xs font-medium text-white hover:bg-slate-700 disabled:opacity-50"
      >
        {ask.isPending || ask.isSuccess ? "Requesting…" : `Request promotion to ${stage}`}
      </button>
    </form>
  );
}
