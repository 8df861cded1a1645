import Link from "next/link";
import type { RequestRecord } from "@/lib/server/promotions/get-request";
import { DigestChip } from "../digest-chip";
import { BreakGlassMarker, GateBadge, RequestStatusBadge } from "./badges";
import { imageHref, utc } from "./format";
import { ReviewActions } from "./review-actions";
import { WaiverForm } from "./waiver-form";
import { RevokeApprovalButton } from "./revoke-approval-button";

const GATE_ORDER_NOTE = "Gates are judged in a fixed order; each result is shown as the server wrote it.";

/**
 * One promotion request as one visible record: what is asked, the approvals so far, every gate with its
 * explanation, the waivers relied on, the reviews, and the stage signature; plus what the viewer may do.
 */
export function RequestRecordView({ record: r }: { record: RequestRecord }) {
  const failing = r.gates.filter((g) => !g.passed);
  return (
    <div className="space-y-6" data-testid="request-record" data-status={r.status}>
      <RequestHeader record={r} />

      <div className="grid gap-6 lg:grid-cols-[1fr_22rem]">
        <div className="min-w-0 space-y-6">
          <ApprovalsSection record={r} />

          <GatesSection record={r} />

          <WaiversSection record={r} />

          <ReviewsSection record={r} />

          <StageSignatureSection record={r} />
        </div>

        <aside className="space-y-4 lg:sticky lg:top-4 lg:self-start">
          <ReviewActions
            requestId={r.id}
            status={r.status}
            viewer={r.viewer}
            failingGates={failing.map((g) => g.label)}
            failingIds={failing.flatMap((g) => g.failingIds ?? [])}
            target={{
              image: `${r.image.registry}/${r.image.repository}@${r.image.digest}`,
              stage: r.stage.name,
              approvals: `${r.approvals.count} of ${r.approvals.required}`,
            }}
          />
        </aside>
      </div>
    </div>
  );
}

/** How many distinct approvals the stage needs, and how many are in. */
function ApprovalsSection({ record: r }: { record: RequestRecord }) {
  return (
    <section aria-labelledby="appr-h">
      <h2 id="appr-h" className="mb-2 text-lg font-semibold">
        Approvals
      </h2>
      <div className="rounded-lg border border-slate-200 bg-white p-4">
        <p className="text-sm" data-testid="approvals-summary">
          {r.approvals.summary}
        </p>
        <div className="mt-2 flex gap-1" aria-hidden="true">
          {Array.from({ length: r.approvals.required }, (_, i) => (
            <span key={i} className={`h-2 flex-1 rounded ${i < r.approvals.count ? "bg-emerald-500" : "bg-slate-200"}`} />
          ))}
        </div>
        <p className="mt-1 text-xs text-slate-500" data-testid="approvals-count">
          {r.approvals.count} of {r.approvals.required}
        </p>
      </div>
    </section>
  );
}

/** Every gate with its explanation; a failing gate offers a waiver to those who may grant one. */
function GatesSection({ record: r }: { record: RequestRecord }) {
  const open = r.status === "open";
  return (
    <section aria-labelledby="gates-h">
      <h2 id="gates-h" className="mb-1 text-lg font-semibold">
        Gates
      </h2>
      <p className="mb-2 text-xs text-slate-500">
        {open
          ? `Judged now (${utc(r.gatesJudgedAt)}), and again under a lock when the last approval arrives.`
          : `As recorded at the decision (${utc(r.gatesJudgedAt)}).`}{" "}
        {GATE_ORDER_NOTE}
      </p>
      {r.gates.length === 0 && <p className="rounded border border-dashed border-slate-300 p-4 text-sm text-slate-500">Stage {r.stage.name} has no gates.</p>}
      <ol className="space-y-2">
        {r.gates.map((g) => (
          <li
            key={g.gate}
            className={`rounded-lg border bg-white p-3 ${g.passed ? (g.waived ? "border-amber-200" : "border-slate-200") : "border-rose-300"}`}
            data-testid={`gate-${g.gate}`}
            data-passed={String(g.passed)}
            data-waived={String(g.waived)}
          >
            <div className="flex flex-wrap items-center gap-2">
              <GateBadge passed={g.passed} waived={g.waived} />
              <span className="font-medium">{g.label}</span>
            </div>
            <p className="mt-1 break-words text-sm text-slate-700" data-testid="gate-detail">
              {g.detail}
            </p>
            {!g.passed && open && r.viewer.canWaive && (
              <div className="mt-2">
                <WaiverForm
                  requestId={r.id}
                  stage={r.stage.name}
                  registry={r.image.registry}
                  repository={r.image.repository}
                  digest={r.image.digest}
                  gate={g}
                />
              </div>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The waivers the gates relied on, with their state. */
function WaiversSection({ record: r }: { record: RequestRecord }) {
  return (
    <section aria-labelledby="waivers-h">
      <h2 id="waivers-h" className="mb-2 text-lg font-semibold">
        Waivers relied on
      </h2>
      {r.waivers.length === 0 ? (
        <p className="text-sm text-slate-500">None.</p>
      ) : (
        <ul className="space-y-2">
          {r.waivers.map((w) => {
            const expired = new Date(w.expiresAt) <= new Date();
            return (
              <li key={w.id} className="rounded-lg border border-amber-200 bg-amber-50/40 p-3 text-sm" data-testid="waiver" data-waiver-id={w.id}>
                <div className="flex flex-wrap items-center gap-2">
                  <span className="font-medium">gate {w.gate}</span>
                  {w.vulnIds.length > 0 && <span className="font-mono text-xs">{w.vulnIds.join(", ")}</span>}
                  <span className="text-xs text-slate-500">{w.digest ? "this digest" : "whole repository"}</span>
                  {(w.revoked || expired) && <span className="rounded bg-slate-200 px-1.5 text-xs">{w.revoked ? "revoked" : "expired"}</span>}
                </div>
                <p className="mt-1" data-testid="waiver-reason">
                  {w.reason}
                </p>
                <p className="mt-1 text-xs text-slate-500">
                  granted by <span data-testid="waiver-grantor">{w.grantedBy}</span> · expires {utc(w.expiresAt)}
                </p>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

/** Each reviewer's decision and comment. */
function ReviewsSection({ record: r }: { record: RequestRecord }) {
  return (
    <section aria-labelledby="reviews-h">
      <h2 id="reviews-h" className="mb-2 text-lg font-semibold">
        Reviews
      </h2>
      {r.reviews.length === 0 ? (
        <p className="text-sm text-slate-500">No reviews yet.</p>
      ) : (
        <ol className="space-y-2">
          {r.reviews.map((v) => (
            <li key={v.id} className="rounded-lg border border-slate-200 bg-white p-3 text-sm" data-testid="review" data-decision={v.decision}>
              <div className="flex flex-wrap items-center gap-2">
                <span className="font-medium">{v.reviewer}</span>
                <span
                  className={`rounded px-1.5 py-0.5 text-xs font-semibold ${v.decision === "approve" ? "bg-emerald-100 text-emerald-800" : "bg-rose-100 text-rose-800"}`}
                >
                  {v.decision === "approve" ? "approved" : "rejected"}
                </span>
                {v.breakGlass && <BreakGlassMarker />}
                {v.waiverIds.length > 0 && (
                  <span className="text-xs text-amber-800">
                    relied on {v.waiverIds.length} waiver{v.waiverIds.length === 1 ? "" : "s"}
                  </span>
                )}
                <span className="ml-auto text-xs text-slate-500">{utc(v.createdAt)}</span>
              </div>
              {v.comment && <p className="mt-1 whitespace-pre-wrap text-slate-700">{v.comment}</p>}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** What is asked: stage, image, requester, note and decision time. */
function RequestHeader({ record: r }: { record: RequestRecord }) {
  return (
    <header>
      <p className="text-sm text-slate-500">
        <Link href="/requests" className="hover:underline">
          Promotion requests
        </Link>{" "}
        / <span className="font-mono text-xs">{r.id}</span>
      </p>
      <h1 className="mt-1 flex flex-wrap items-center gap-3 text-2xl font-semibold">
        <span>
          Promote to <span data-testid="request-stage">{r.stage.name}</span>
        </span>
        {/* A signed request whose approval was revoked or has expired passes no stage: the badge says so, not "signed". */}
        <RequestStatusBadge status={r.signature?.revocation ? "revoked" : r.signature?.expiry?.expired ? "expired" : r.status} />
        {r.breakGlass && <BreakGlassMarker />}
      </h1>
      <p className="mt-1 text-slate-700" data-testid="request-state">
        {r.state}
      </p>
      <dl className="mt-3 grid grid-cols-[9rem_1fr] gap-x-3 gap-y-1 rounded-lg border border-slate-200 bg-white p-4 text-sm">
        <dt className="text-slate-500">Image</dt>
        <dd className="flex flex-wrap items-center gap-2">
          <a
            href={imageHref(r.image.repository, r.image.digest, r.image.registry)}
            className="font-mono text-sky-700 hover:underline"
            data-testid="request-image"
          >
            {r.image.repository}
          </a>
          <DigestChip digest={r.image.digest} />
          <span className="text-xs text-slate-500">registry {r.image.registry}</span>
        </dd>
        <dt className="text-slate-500">Stage</dt>
        <dd>
          {r.stage.name}: {r.stage.requiredApprovals} approval{r.stage.requiredApprovals === 1 ? "" : "s"} from{" "}
          {r.stage.reviewerGroups.length ? `group ${r.stage.reviewerGroups.join(" or ")}` : "any reviewer"}
          {r.stage.waiverGroup ? `; waivers from group ${r.stage.waiverGroup}` : "; no waiver group"}
        </dd>
        <dt className="text-slate-500">Requested by</dt>
        <dd data-testid="request-requester">
          {r.requester ? `${r.requester.name} (${r.requester.email})` : "(deleted user)"} · {utc(r.createdAt)}
        </dd>
        <dt className="text-slate-500">Note</dt>
        <dd className="whitespace-pre-wrap" data-testid="request-note">
          {r.note || <span className="text-slate-500">(none)</span>}
        </dd>
        {r.decidedAt && (
          <>
            <dt className="text-slate-500">Decided</dt>
            <dd>{utc(r.decidedAt)}</dd>
          </>
        )}
      </dl>
    </header>
  );
}

/** The stage signature: none yet (what will happen), revoked, in the registry, or pending. */
function StageSignatureSection({ record: r }: { record: RequestRecord }) {
  const open = r.status === "open";
  return (
    <section aria-labelledby="sig-h">
      <h2 id="sig-h" className="mb-2 text-lg font-semibold">
        Stage signature
      </h2>
      {!r.signature ? (
        <p className="text-sm text-slate-500" data-testid="stage-signature" data-status="none">
          {open
            ? `When ${r.stage.requiredApprovals === 1 ? "the approval arrives" : `all ${r.stage.requiredApprovals} distinct approvals are in`} and the gates still hold, the server signs the digest for stage ${r.stage.name} and pushes the signature to the registry.`
            : "No signature."}
        </p>
      ) : r.signature.revocation ? (
        <div className="rounded-lg border border-rose-200 bg-rose-50 p-4 text-sm text-rose-900" data-testid="stage-signature" data-status="revoked">
          <p className="font-medium">
            revoked {utc(r.signature.revocation.revokedAt)} by {r.signature.revocation.revokedBy}
          </p>
          <p className="mt-1">{r.signature.revocation.reason}</p>
          <p className="mt-1 text-xs">
            Verify and ImageReview deny this stage.{" "}
            {r.signature.revocation.state === "removed"
              ? "The signature layer and its bundle were removed from the registry."
              : `Removing the signature from the registry is pending${r.signature.revocation.error ? ` (${r.signature.revocation.error})` : ""}; it is retried automatically.`}
          </p>
          <p className="mt-1 break-all font-mono text-xs">
            layer {r.signature.layerDigest} · key {r.signature.key.name}
          </p>
        </div>
      ) : r.signature.expiry?.expired ? (
        <ExpiredSignature signature={r.signature} />
      ) : r.signature.status === "signed" ? (
        <div className="rounded-lg border border-emerald-200 bg-emerald-50/50 p-4 text-sm" data-testid="stage-signature" data-status="signed">
          <p className="font-medium text-emerald-800">
            signed: the stage signature is in the registry{r.signature.signedAt ? ` (${utc(r.signature.signedAt)})` : ""}
          </p>
          <dl className="mt-2 grid grid-cols-[7rem_1fr] gap-x-3 gap-y-1 text-xs">
            <dt className="text-slate-500">layer</dt>
            <dd className="break-all font-mono" data-testid="signature-layer">
              {r.signature.layerDigest}
            </dd>
            <dt className="text-slate-500">key</dt>
            <dd className="break-all font-mono">
              {r.signature.key.name} · {r.signature.key.fingerprint}
            </dd>
            <dt className="text-slate-500">trusted time</dt>
            <dd data-testid="signature-time">
              {utc(r.signature.trustedTime.at)} ({r.signature.trustedTime.by})
            </dd>
          </dl>
          {r.viewer.canRevoke && (
            <div className="mt-3">
              <RevokeApprovalButton approvalId={r.signature.approvalId} stage={r.stage.name} repository={r.image.repository} digest={r.image.digest} />
            </div>
          )}
        </div>
      ) : (
        <div className="rounded-lg border border-sky-200 bg-sky-50 p-4 text-sm text-sky-900" data-testid="stage-signature" data-status={r.signature.status}>
          <p className="font-medium">approved, signature pending</p>
          <p className="mt-1 text-xs">
            The stage is not reported as passed until the signature is in the registry. It is retried automatically ({r.signature.attempts} attempt
            {r.signature.attempts === 1 ? "" : "s"} so far).
          </p>
          {r.signature.lastError && (
            <p className="mt-1 text-xs">
              Last error: <span data-testid="signature-error">{r.signature.lastError}</span>
            </p>
          )}
          <p className="mt-1 break-all font-mono text-xs">
            layer {r.signature.layerDigest} · key {r.signature.key.name}
          </p>
        </div>
      )}
    </section>
  );
}

/** An approval past the stage's TTL: its signature may still be in the registry, but it passes no stage. */
function ExpiredSignature({ signature }: { signature: NonNullable<RequestRecord["signature"]> }) {
  return (
    <div className="rounded-lg border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900" data-testid="stage-signature" data-status="expired">
      <p className="font-medium">approval expired {signature.expiry ? utc(signature.expiry.at) : ""}</p>
      <p className="mt-1 text-xs">
        The stage&apos;s approvals last a limited time. Verify and ImageReview deny this stage; renewing it is a new request, reviewed again.
      </p>
      <p className="mt-1 break-all font-mono text-xs">
        layer {signature.layerDigest} · key {signature.key.name} · trusted time {utc(signature.trustedTime.at)} ({signature.trustedTime.by})
      </p>
    </div>
  );
}
