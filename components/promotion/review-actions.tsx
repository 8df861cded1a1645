"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "../api";
import { ConfirmDialog } from "../confirm-dialog";

interface Outcome {
  decision: "approve" | "reject";
  duplicate: boolean;
  status: "open" | "approved" | "signed" | "rejected" | "withdrawn";
  approvals: number;
  required: number;
  pendingReason?: string;
}

export interface Viewer {
  reviewed: string | null;
  canReview: boolean;
  /** Gates that pass for the request but would fail for this viewer's own approval (four eyes), each with why. */
  fourEyes?: string[];
  reasons: string[];
  canBreakGlass: boolean;
}

const MIN_BREAK_GLASS = 10;
const box = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";

function outcomeText(o: Outcome): string {
  if (o.decision === "reject") return "Rejected. The requester sees your reason.";
  const dup = o.duplicate ? "You had already approved; it counts once. " : "";
  switch (o.status) {
    case "signed":
      return `${dup}Approved and signed: the stage signature is in the registry.`;
    case "approved":
      return `${dup}Approved; the signature is pending${o.pendingReason ? `: ${o.pendingReason}` : ""}. It is retried automatically.`;
    case "open":
      return `${dup}Approval recorded: ${o.approvals} of ${o.required}.`;
    default:
      return `${dup}The request is ${o.status}.`;
  }
}

/** What a break-glass approval would sign, as the server computed it for the request page. */
export interface BreakGlassTarget {
  image: string;
  stage: string;
  approvals: string;
}

/** The review form's fields and the one mutation that posts a review; a success clears the fields. */
function useReview(requestId: string) {
  const router = useRouter();
  const [comment, setComment] = useState("");
  const [reason, setReason] = useState("");
  const [glassReason, setGlassReason] = useState("");
  const [glassAsking, setGlassAsking] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const review = useMutation({
    mutationFn: (b: { decision: "approve" | "reject"; comment: string; breakGlass?: boolean; expectOverrides?: string[]; expectFailingIds?: string[] }) =>
      api<Outcome>(`/api/v1/requests/${requestId}/reviews`, { method: "POST", body: JSON.stringify({ breakGlass: false, ...b }) }),
    onSuccess: (o) => {
      setOutcome(o);
      setComment("");
      setReason("");
      setGlassReason("");
      setGlassAsking(false);
      router.refresh();
    },
  });
  return { review, busy: review.isPending, outcome, comment, setComment, reason, setReason, glassReason, setGlassReason, glassAsking, setGlassAsking };
}

type ReviewState = ReturnType<typeof useReview>;

/** The last outcome or error, and why the viewer cannot review (already did, closed, or not allowed). */
function ReviewNotices({ s, status, viewer }: { s: ReviewState; status: string; viewer: Viewer }) {
  const { outcome, review } = s;
  const open = status === "open";
  return (
    <>
      {outcome && (
        <p
          role="status"
          className={`rounded px-3 py-2 text-sm ${outcome.decision === "reject" ? "bg-slate-100 text-slate-800" : "bg-emerald-50 text-emerald-800"}`}
          data-testid="review-outcome"
        >
          {outcomeText(outcome)}
        </p>
      )}
      {review.error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {review.error.message}
        </p>
      )}
      {viewer.reviewed && (
        <p className="text-sm text-slate-700" data-testid="viewer-reviewed">
          You {viewer.reviewed === "approve" ? "approved" : "rejected"} this request. A reviewer counts once.
        </p>
      )}
      {!open && !viewer.reviewed && <p className="text-sm text-slate-600">This request is {status}; no further reviews are taken.</p>}

      {open && !viewer.reviewed && viewer.reasons.length > 0 && (
        <div className="rounded border border-amber-200 bg-amber-50 px-3 py-2 text-sm text-amber-900" data-testid="viewer-reasons">
          <p className="font-medium">You cannot approve this request{viewer.canBreakGlass ? " normally" : ""}:</p>
          <ul className="mt-1 list-disc pl-5">
            {viewer.reasons.map((r) => (
              <li key={r}>{r}</li>
            ))}
          </ul>
        </div>
      )}
    </>
  );
}

/** The ordinary review: approve with a comment, or reject with a reason. */
function ApproveRejectForms({ s, failingGates, fourEyes }: { s: ReviewState; failingGates: string[]; fourEyes: string[] }) {
  const { review, busy, comment, setComment, reason, setReason } = s;
  return (
    <>
      {fourEyes.length > 0 && (
        <div className="rounded bg-amber-50 px-3 py-2 text-xs text-amber-900" data-testid="four-eyes-warning">
          <p className="font-medium">Your approval would be refused: four eyes. Another reviewer can approve.</p>
          <ul className="mt-1 list-disc pl-4">
            {fourEyes.map((f) => (
              <li key={f}>{f}</li>
            ))}
          </ul>
        </div>
      )}
      {failingGates.length > 0 && (
        <p className="rounded bg-rose-50 px-3 py-2 text-xs text-rose-800" data-testid="failing-gates-warning">
          {failingGates.length === 1 ? "A gate fails" : `${failingGates.length} gates fail`} ({failingGates.join(", ")}): an approval is refused until a waiver
          covers {failingGates.length === 1 ? "it" : "them"}.
        </p>
      )}
      <form
        className="space-y-2"
        onSubmit={(e) => {
          e.preventDefault();
          review.mutate({ decision: "approve", comment });
        }}
      >
        <label className="block text-sm">
          <span className="block text-slate-600">Comment</span>
          <textarea
            name="comment"
            value={comment}
            onChange={(e) => setComment(e.target.value)}
            required
            maxLength={2000}
            rows={2}
            placeholder="What you checked"
            className={box}
          />
        </label>
        <button
          type="submit"
          disabled={busy || !comment.trim()}
          className="rounded bg-emerald-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-emerald-600 disabled:opacity-50"
        >
          {busy && review.variables?.decision === "approve" && !review.variables.breakGlass ? "Approving…" : "Approve"}
        </button>
      </form>
      <form
        className="space-y-2 border-t border-slate-100 pt-3"
        onSubmit={(e) => {
          e.preventDefault();
          review.mutate({ decision: "reject", comment: reason });
        }}
      >
        <label className="block text-sm">
          <span className="block text-slate-600">Reason for rejecting (required)</span>
          <textarea
            name="reason"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            required
            minLength={3}
            maxLength={2000}
            rows={2}
            placeholder="What must change before this can be promoted"
            className={box}
          />
        </label>
        <button
          type="submit"
          disabled={busy || reason.trim().length < 3}
          className="rounded border border-rose-300 px-3 py-1.5 text-sm font-medium text-rose-700 hover:bg-rose-50 disabled:opacity-50"
        >
          Reject
        </button>
      </form>
    </>
  );
}

/** The admin's break-glass form: a reason, then a confirmation before anything is signed. */
function BreakGlassForm({ s }: { s: ReviewState }) {
  const { review, busy, glassReason, setGlassReason, setGlassAsking } = s;
  return (
    <form
      className="space-y-2 rounded border-2 border-rose-300 bg-rose-50/40 p-3"
      onSubmit={(e) => {
        e.preventDefault();
        review.reset();
        setGlassAsking(true);
      }}
      data-testid="break-glass"
    >
      <h3 className="flex items-center gap-2 text-sm font-semibold text-rose-800">
        <span aria-hidden="true">⚠</span> Break glass
      </h3>
      <p className="text-xs text-rose-900">
        An admin approval outside the rules: it overrides four eyes, reviewer groups and failing gates. It is audited, and it is marked as break-glass, with
        your reason, in the signed payload that every verifier sees.
      </p>
      <label className="block text-sm">
        <span className="block text-slate-600">Break-glass reason (at least {MIN_BREAK_GLASS} characters)</span>
        <textarea
          name="breakGlassReason"
          value={glassReason}
          onChange={(e) => setGlassReason(e.target.value)}
          required
          minLength={MIN_BREAK_GLASS}
          maxLength={2000}
          rows={2}
          className={box}
        />
      </label>
      <button
        type="submit"
        disabled={busy || glassReason.trim().length < MIN_BREAK_GLASS}
        className="rounded bg-rose-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-rose-600 disabled:opacity-50"
      >
        Approve with break glass
      </button>
    </form>
  );
}

/** The confirmation that spells out what a break-glass approval signs and overrides. */
function BreakGlassConfirm({
  s,
  viewer,
  failingGates,
  failingIds,
  target,
}: {
  s: ReviewState;
  viewer: Viewer;
  failingGates: string[];
  failingIds: string[];
  target?: BreakGlassTarget;
}) {
  const { review, busy, glassReason, glassAsking, setGlassAsking } = s;
  return (
    <ConfirmDialog
      open={glassAsking}
      title="Approve with break glass?"
      confirmLabel="Sign as break-glass"
      pendingLabel="Signing…"
      pending={busy}
      error={review.error?.message ?? null}
      onCancel={() => setGlassAsking(false)}
      onConfirm={() =>
        review.mutate({ decision: "approve", comment: glassReason, breakGlass: true, expectOverrides: failingGates, expectFailingIds: failingIds })
      }
      testId="confirm-break-glass"
    >
      <p>
        The server signs{" "}
        {target ? (
          <span className="break-all font-mono" data-testid="break-glass-image">
            {target.image}
          </span>
        ) : (
          "this image"
        )}{" "}
        for stage <strong>{target?.stage ?? "this stage"}</strong> now, with your admin override recorded as break-glass in the signed payload every verifier
        sees.
      </p>
      <ul className="list-disc space-y-1 pl-5">
        {target && <li>Approvals so far: {target.approvals}; the rest are skipped.</li>}
        {failingGates.length > 0 ? <li>Failing gates overridden: {failingGates.join(", ")}.</li> : <li>No gate fails.</li>}
        {failingIds.length > 0 && (
          <li data-testid="break-glass-failing-ids">
            Vulnerabilities over the limit, accepted: {failingIds.slice(0, 10).join(", ")}
            {failingIds.length > 10 ? ` and ${failingIds.length - 10} more` : ""}.
          </li>
        )}
        {viewer.reasons.map((r) => (
          <li key={r}>Overrides: {r}</li>
        ))}
        <li>Your reason, as recorded and signed: &quot;{glassReason.trim()}&quot;.</li>
      </ul>
      <p>It is audited and cannot be undone; only revoking the approval takes it back.</p>
    </ConfirmDialog>
  );
}

/**
 * What the viewer may do on a request, as the server computed it: approve, reject with a reason, or (admins) a
 * break-glass approval. The server decides; a refusal comes back as an error shown verbatim.
 */
export function ReviewActions({
  requestId,
  status,
  viewer,
  failingGates,
  failingIds = [],
  target,
}: {
  requestId: string;
  status: string;
  viewer: Viewer;
  failingGates: string[];
  /** The vulnerability ids over a findings gate's limit, as this page shows them: what a break glass accepts. */
  failingIds?: string[];
  target?: BreakGlassTarget;
}) {
  const s = useReview(requestId);
  return (
    <section aria-labelledby="actions-h" className="space-y-3 rounded-lg border border-slate-200 bg-white p-4" data-testid="review-actions">
      <h2 id="actions-h" className="font-semibold">
        Your review
      </h2>
      <ReviewNotices s={s} status={status} viewer={viewer} />

      {viewer.canReview && <ApproveRejectForms s={s} failingGates={failingGates} fourEyes={viewer.fourEyes ?? []} />}

      {viewer.canBreakGlass && <BreakGlassForm s={s} />}
      {viewer.canBreakGlass && <BreakGlassConfirm s={s} viewer={viewer} failingGates={failingGates} failingIds={failingIds} target={target} />}
    </section>
  );
}
