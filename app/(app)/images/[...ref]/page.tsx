import { notFound, redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { hasRole } from "@/lib/server/actor";
import { isAppError } from "@/lib/errors";
import { imageRefFromSegments } from "@/lib/server/http/image-ref";
import { getImage, type ImageDetail } from "@/lib/server/images/get-image";
import { PromotionPanel } from "@/components/promotion/promotion-panel";
import { EvidenceUpload } from "@/components/evidence/evidence-upload";
import { DocumentsList, ProvenanceTab, SbomTab, VulnerabilitiesTab } from "@/components/evidence/evidence-tabs";
import { getImageEvidence, parseEvidenceQuery } from "@/lib/server/evidence/get-image-evidence";
import {
  AccessoriesTable,
  ApprovalsTable,
  ImageHeader,
  ManifestSection,
  SignatureChainSection,
  StagesSection,
  TagHistoryTable,
} from "@/components/image/image-sections";

export const dynamic = "force-dynamic";

type SP = { registry?: string; tab?: string; severity?: string; fix?: string; vq?: string; vsort?: string; cq?: string; cpage?: string };

const TABS = [
  ["overview", "Signatures & stages"],
  ["vulnerabilities", "Vulnerabilities"],
  ["sbom", "SBOM"],
  ["provenance", "Provenance"],
] as const;

export default async function ImagePage({ params, searchParams }: { params: Promise<{ ref: string[] }>; searchParams: Promise<SP> }) {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  const [{ ref }, sp] = await Promise.all([params, searchParams]);
  let image: ImageDetail;
  try {
    const { repository, digest } = imageRefFromSegments(ref);
    image = await getImage({ actor, registry: sp.registry, repository, digest });
  } catch (e) {
    if (isAppError(e) && (e.code === "NOT_FOUND" || e.code === "INVALID_INPUT")) {
      return (
        <div className="rounded-lg border border-rose-200 bg-rose-50 p-6 text-rose-800" role="alert">
          <h1 className="font-semibold">Image not found</h1>
          <p className="mt-1 text-sm">{e.message}</p>
        </div>
      );
    }
    if (isAppError(e)) notFound();
    throw e;
  }
  const tab = TABS.some(([t]) => t === sp.tab) ? sp.tab! : "overview";
  let ev: Awaited<ReturnType<typeof getImageEvidence>> | null = null;
  let evError: string | null = null;
  try {
    ev = await getImageEvidence({ actor, imageId: image.id, query: parseEvidenceQuery(sp as Record<string, string | undefined>) });
  } catch (e) {
    if (!isAppError(e)) throw e;
    evError = e.message;
  }
  const pageBase = `/images/${image.repository}@${image.digest}`;
  const rawBase = `/api/v1/images/${image.repository}@${image.digest}/evidence`;
  const spRecord = { ...sp, ...(sp.registry ? {} : {}) } as Record<string, string | undefined>;

  return (
    <div className="space-y-6">
      <ImageHeader image={image} canDownloadPack={hasRole(actor, ["admin", "manager"])} />

      <nav className="flex gap-1 border-b border-slate-200" aria-label="Image sections">
        {TABS.map(([t, label]) => (
          <a
            key={t}
            href={`${pageBase}?tab=${t}${sp.registry ? `&registry=${encodeURIComponent(sp.registry)}` : ""}`}
            className={`-mb-px border-b-2 px-3 py-2 text-sm ${tab === t ? "border-slate-900 font-semibold" : "border-transparent text-slate-500 hover:text-slate-800"}`}
            aria-current={tab === t ? "page" : undefined}
          >
            {label}
            {t === "vulnerabilities" && ev && (
              <span className="ml-1 font-mono text-xs text-slate-500">
                {ev.severityCounts.critical}C {ev.severityCounts.high}H
              </span>
            )}
          </a>
        ))}
      </nav>
      {evError && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {evError}
        </p>
      )}
      {tab !== "overview" && ev && (
        <div className="space-y-4">
          {tab === "vulnerabilities" && <VulnerabilitiesTab ev={ev} pageBase={pageBase} params={spRecord} />}
          {tab === "sbom" && <SbomTab ev={ev} pageBase={pageBase} params={spRecord} rawBase={rawBase} />}
          {tab === "provenance" && <ProvenanceTab ev={ev} />}
          <h2 className="pt-2 text-lg font-semibold">Evidence documents</h2>
          <DocumentsList
            ev={ev}
            rawBase={rawBase}
            withdraw={
              hasRole(actor, ["admin"])
                ? { image: `${image.repository}@${image.digest}`, approvedStages: image.stages.filter((s) => s.state === "approved").map((s) => s.stage) }
                : undefined
            }
          />
          {hasRole(actor, ["admin", "developer", "reviewer"]) && <EvidenceUpload uploadUrl={`${rawBase}?registry=${encodeURIComponent(image.registry)}`} />}
        </div>
      )}
      {tab === "overview" && (
        <>
          <StagesSection image={image} />

          <PromotionPanel actor={actor} image={image} />

          <SignatureChainSection image={image} />

          {image.approvals.length > 0 && <ApprovalsTable image={image} />}

          {image.artifacts.length > 0 && <AccessoriesTable image={image} />}

          {image.tagHistory.length > 0 && <TagHistoryTable image={image} />}

          <ManifestSection image={image} />
        </>
      )}
    </div>
  );
}
