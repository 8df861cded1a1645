import Link from "next/link";
import { listImageRequests } from "@/lib/server/promotions/list-image-requests";
import type { Actor } from "@/lib/server/actor";
import { requestStateLabel } from "@/lib/server/promotions/get-request";
import { StageBadge } from "../badges";
import { RequestStatusBadge } from "./badges";
import { imageHref } from "./format";
import { RequestPromotionForm } from "./request-promotion-form";

export interface PromotionPanelImage {
  id: string;
  registry: string;
  repository: string;
  digest: string;
  parentDigest: string | null;
  stages: { stage: string; state: string }[];
}

const LIVE = new Set(["open", "approved", "signed"]);

/**
 * Per stage of an image: where it stands, the live promotion request (link), or a form to request one.
 * Reads this image's requests directly: a read-only query every signed-in user may see (like the request lists).
 */
export async function PromotionPanel({ actor, image }: { actor: Actor; image: PromotionPanelImage }) {
  if (image.parentDigest) {
    return (
      <section aria-labelledby="promo-h" className="rounded-lg border border-slate-200 bg-white p-4 text-sm">
        <h2 id="promo-h" className="font-semibold">
          Promotion
        </h2>
        <p className="mt-1 text-slate-600">
          Promotions are requested for the index{" "}
          <a className="font-mono text-sky-700 hover:underline" href={imageHref(image.repository, image.parentDigest, image.registry)}>
            {image.parentDigest.slice(0, 19)}
          </a>
          , whose signature covers this platform.
        </p>
      </section>
    );
  }
  const canRequest = actor.kind === "user" && (actor.role === "developer" || actor.role === "reviewer" || actor.role === "admin");
  const { stages, requests } = await listImageRequests({ actor, imageId: image.id });
  return (
    <section aria-labelledby="promo-h" data-testid="promotion-panel">
      <h2 id="promo-h" className="mb-1 text-lg font-semibold">
        Promotion
      </h2>
      <p className="mb-2 text-xs text-slate-500">
        Ask for this digest to be promoted; reviewers of the stage approve it on the request page, and the server signs the digest for the stage when the last
        approval arrives.
      </p>
      <div className="grid gap-3 sm:grid-cols-3">
        {stages.map((s) => {
          const state = image.stages.find((x) => x.stage === s.name)?.state ?? "not approved";
          const latest = requests.find((r) => r.stageId === s.id);
          // A signed request whose approval was revoked or has expired holds the stage no more: it is history, and the
          // digest may be requested again (request-promotion.ts renews it), so the form shows and the link says why.
          const lapsed = latest?.status === "signed" && (state === "revoked" || state === "approval expired") ? state : null;
          const live = latest && LIVE.has(latest.status) && !lapsed ? latest : null;
          const approvals = latest ? latest.reviews.filter((v) => v.decision === "approve").length : 0;
          return (
            <div key={s.name} className="flex flex-col gap-2 rounded-lg border border-slate-200 bg-white p-3" data-testid={`promotion-${s.name}`}>
              <div className="flex items-center justify-between">
                <span className="font-medium">{s.name}</span>
                <StageBadge state={state} />
              </div>
              {latest && (
                <p className="flex flex-wrap items-center gap-1 text-xs">
                  <RequestStatusBadge status={latest.status} />
                  <Link href={`/requests/${latest.id}`} className="text-sky-700 hover:underline" data-testid="promotion-request-link">
                    {lapsed
                      ? `signed, then ${lapsed === "revoked" ? "revoked" : "expired"}: request it again to renew`
                      : requestStateLabel(latest.status, latest.approval?.status, approvals, s.requiredApprovals)}
                  </Link>
                </p>
              )}
              {!live && state !== "approved" && canRequest && (
                <RequestPromotionForm registry={image.registry} repository={image.repository} digest={image.digest} stage={s.name} />
              )}
              {!live && state !== "approved" && !canRequest && (
                <p className="text-xs text-slate-500">Requesting a promotion needs role developer, reviewer or admin.</p>
              )}
            </div>
          );
        })}
      </div>
    </section>
  );
}
