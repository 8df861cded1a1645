"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "../api";
import { ConfirmDialog } from "../confirm-dialog";

/**
 * Revokes one stage approval after a confirm dialog that states what changes: verify and ImageReview deny the stage
 * at once, the stage's signature layer (and Sigstore bundle) leave the registry, other signatures stay untouched.
 */
export function RevokeApprovalButton({ approvalId, stage, repository, digest }: { approvalId: string; stage: string; repository: string; digest: string }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const revoke = useMutation({
    mutationFn: (reason: string) =>
      api<{ state: string; error: string | null }>(`/api/v1/approvals/${approvalId}/revoke`, { method: "POST", body: JSON.stringify({ reason }) }),
    onSuccess: () => {
      setOpen(false);
      router.refresh();
    },
  });
  return (
    <>
      <button
        type="button"
        onClick={() => {
          revoke.reset();
          setOpen(true);
        }}
        className="rounded border border-rose-300 px-2 py-0.5 text-xs text-rose-800 hover:bg-rose-50"
        data-testid="revoke-approval"
      >
        Revoke<span className="sr-only"> the {stage} approval</span>
      </button>
      <ConfirmDialog
        open={open}
        title={`Revoke the ${stage} approval?`}
        confirmLabel="Revoke approval"
        pendingLabel="Revoking…"
        reasonLabel="Reason (required)"
        pending={revoke.isPending}
        error={revoke.error?.message ?? null}
        onCancel={() => setOpen(false)}
        onConfirm={(reason) => revoke.mutate(reason)}
        testId="confirm-revoke-approval"
      >
        <ul className="list-disc space-y-1 pl-5">
          <li>
            Verify and ImageReview deny{" "}
            <span className="break-all font-mono">
              {repository}@{digest.slice(0, 19)}…
            </span>{" "}
            for stage {stage} from now on, with the reason &quot;revoked&quot;.
          </li>
          <li>
            The {stage} signature layer is removed from the image&apos;s cosign <span className="font-mono">.sig</span> manifest and its Sigstore bundle from
            the referrers; outside verifiers (cosign) stop accepting the stage.
          </li>
          <li>Every other signature (publisher, team, other stages) is kept byte-for-byte.</li>
          <li>This cannot be undone: promoting again is a new request, reviewed again. It is audited and sent as webhook approval.revoked.</li>
        </ul>
      </ConfirmDialog>
    </>
  );
}
