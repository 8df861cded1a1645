import Link from "next/link";
import { AtRiskList, type AtRiskEntry } from "../at-risk";
import { StageBadge } from "../badges";
import { imageHref, shortDigest } from "./format";

export interface MyImage {
  registry: string;
  repository: string;
  digest: string;
  why: string[];
  currentStage: string | null;
  nextStage: string | null;
  nextRequestId: string | null;
  blockers: string[];
  stages: { stage: string; state: string }[];
  atRisk?: AtRiskEntry[];
}

export function MyImagesList({ images }: { images: MyImage[] }) {
  if (images.length === 0) {
    return (
      <p className="rounded border border-dashed border-slate-300 p-4 text-sm text-slate-500">
        No images yet. Request a promotion from an image’s page, or upload a build’s provenance from CI.
      </p>
    );
  }
  return (
    <ul className="space-y-3">
      {images.map((i) => (
        <li
          key={`${i.registry}/${i.repository}@${i.digest}`}
          className="rounded-lg border border-slate-200 bg-white p-4"
          data-testid="my-image"
          data-repository={i.repository}
          data-digest={i.digest}
        >
          <div className="flex flex-wrap items-center gap-3">
            <a href={imageHref(i.repository, i.digest, i.registry)} className="font-mono text-sm text-sky-700 hover:underline" title={i.digest}>
              {i.repository}@{shortDigest(i.digest)}
            </a>
            <span className="text-xs text-slate-500">{i.why.join(" and ")} by you</span>
            <div className="ml-auto flex flex-wrap gap-1">
              {i.stages.map((s) => (
                <span key={s.stage} className="inline-flex items-center gap-1 text-xs text-slate-600">
                  {s.stage} <StageBadge state={s.state} />
                </span>
              ))}
            </div>
          </div>
          {i.atRisk?.length ? (
            <div className="mt-3">
              <AtRiskList risks={i.atRisk} />
            </div>
          ) : null}
          <dl className="mt-3 grid grid-cols-[8rem_1fr] gap-x-3 gap-y-1 text-sm">
            <dt className="text-slate-500">Current stage</dt>
            <dd className="font-medium" data-testid="current-stage">
              {i.currentStage ?? "none yet"}
            </dd>
            <dt className="text-slate-500">Next stage</dt>
            <dd data-testid="next-stage">
              {i.nextStage ?? "none: this is the last stage"}
              {i.nextRequestId && (
                <Link href={`/requests/${i.nextRequestId}`} className="ml-2 text-xs text-sky-700 hover:underline" data-testid="next-request-link">
                  open the request
                </Link>
              )}
            </dd>
            {i.nextStage && (
              <>
                <dt className="text-slate-500">Blocked by</dt>
                <dd data-testid="blockers">
                  {i.blockers.length === 0 ? (
                    <span className="text-emerald-700">nothing</span>
                  ) : (
                    <ul className="list-disc space-y-0.5 pl-5 text-slate-700">
                      {i.blockers.map((b) => (
                        <li key={b}>{b}</li>
                      ))}
                    </ul>
                  )}
                </dd>
              </>
            )}
          </dl>
        </li>
      ))}
    </ul>
  );
}
