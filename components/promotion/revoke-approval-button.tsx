"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "../api";

/**
 * Revokes one stage approval after a confirm dialog that states what changes: verify and ImageReview deny the stage
 * at once, the stage's signature layer (and Sigstore bundle) leave the registry, other signatures stay untouched.
 */
export function RevokeApprovalButton({ approvalId, stage, repository, digest }: { approvalId: string; stage: string; repository: string; digest: string }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const revoke = useMutation({
    mutationFn: () => api<{ state: string; error: string | null }>(`/api/v1/approvals/${approvalId}/revoke`, { method: "POST", body: JSON.stringify({ reason }) }),
    onSuccess: () => {
      setOpen(false);
      router.refresh();
    },
  });
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)} className="rounded border border-rose-300 px-2 py-0.5 text-xs text-rose-700 hover:bg-rose-50" data-testid="revoke-approval">
        Revoke
      </button>
    );
  }
  return (
    <div role="dialog" aria-modal="true" aria-labelledby={`revoke-${approvalId}`} className="fixed inset-0 z-50 flex items-center justify-center bg-slate-900/40 p-4">
      <form
        className="w-full max-w-lg space-y-3 rounded-lg bg-white p-5 shadow-xl"
        onSubmit={(e) => {
          e.preventDefault();
          revoke.mutate();
        }}
      >
        <h2 id={`revoke-${approvalId}`} className="text-lg font-semibold">Revoke the {stage} approval?</h2>
        <ul className="list-disc space-y-1 pl-5 text-sm text-slate-700">
          <li>
            Verify and ImageReview deny <span className="font-mono">{repository}@{digest.slice(0, 19)}…</span> for stage {stage} from now on, with the reason &quot;revoked&quot;.
          </li>
          <li>The {stage} signature layer is removed from the image&apos;s cosign <span className="font-mono">.sig</span> manifest and its Sigstore bundle from the referrers; outside verifiers (cosign) stop accepting the stage.</li>
          <li>Every other signature (publisher, team, other stages) is kept byte-for-byte.</li>
          <li>This cannot be undone: promoting again is a new request, reviewed again. It is audited and sent as webhook approval.revoked.</li>
        </ul>
        <label className="block text-sm">
          <span className="text-slate-600">Reason (required)</span>
          <textarea name="reason" required minLength={3} maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} className="mt-1 w-full rounded border border-slate-300 px-2 py-1.5 text-sm" rows={3} />
        </label>
        {revoke.error && <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">{revoke.error.message}</p>}
        <div className="flex gap-2">
          <button type="submit" disabled={revoke.isPending} className="rounded bg-rose-700 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-60">{revoke.isPending ? "Revoking…" : "Revoke approval"}</button>
          <button type="button" onClick={() => setOpen(false)} className="rounded border border-slate-300 px-3 py-1.5 text-sm">Cancel</button>
        </div>
      </form>
    </div>
  );
}
