"use client";
import { useQuery } from "@tanstack/react-query";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { useEffect, useState } from "react";
import { api } from "./api";
import { AtRiskList, type AtRiskEntry } from "./at-risk";
import { DigestChip } from "./digest-chip";
import { SyncButton } from "./sync-button";
import { SeveritySummary } from "./evidence/severity-chart";

interface Item {
  registry: string;
  repository: string;
  digest: string;
  tags: string[];
  mediaType: string;
  platforms: string[];
  signatures: number;
  verifiedSignatures: number;
  artifacts: number;
  currentStage: string | null;
  stages: { stage: string; state: string }[];
  chain?: { label: string; mark: "✓" | "✗" | "…" | "–"; detail: string }[];
  pendingSignatures: number;
  deleted: string | null;
  warnings: string[];
  atRisk?: AtRiskEntry[];
  severities: Record<string, number> | null;
}
interface Page {
  items: Item[];
  total: number;
  page: number;
  pageSize: number;
  pages: number;
}

function mediaTypeLabel(mt: string) {
  if (mt.includes("image.index") || mt.includes("manifest.list")) return "index";
  if (mt.includes("docker.distribution.manifest.v2")) return "docker manifest";
  if (mt.includes("oci.image.manifest")) return "oci manifest";
  return "unknown";
}

const FILTERS = ["registry", "repository", "tag", "digest", "signed", "stage", "severity", "deleted", "atRisk", "sort", "dir", "page"] as const;

type SetFilters = (changes: Record<string, string | null>) => void;
type TextFilters = { repository: string; tag: string; digest: string };
const select = "rounded border border-slate-300 px-2 py-1.5 text-sm";

/** Filters, sort and page read from and written to the URL; the text filters follow 300 ms after the last keystroke. */
function useUrlFilters() {
  const router = useRouter();
  const pathname = usePathname();
  const sp = useSearchParams();
  const qs = new URLSearchParams();
  for (const f of FILTERS) {
    const v = sp.get(f);
    if (v) qs.set(f, v);
  }
  const key = qs.toString();
  const set: SetFilters = (changes) => {
    const next = new URLSearchParams(sp.toString());
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    if (!("page" in changes)) next.delete("page");
    router.replace(`${pathname}?${next.toString()}`);
  };
  const [text, setText] = useState<TextFilters>({ repository: sp.get("repository") ?? "", tag: sp.get("tag") ?? "", digest: sp.get("digest") ?? "" });
  useEffect(() => {
    const t = setTimeout(() => {
      if (text.repository !== (sp.get("repository") ?? "") || text.tag !== (sp.get("tag") ?? "") || text.digest !== (sp.get("digest") ?? "")) set(text);
    }, 300);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [text]);
  return { sp, key, set, text, setText };
}

type Filters = ReturnType<typeof useUrlFilters>;

/** The filter bar: registry, repository, tag, digest prefix, signatures, stage, deleted, at risk, and sort. */
function ImageFilters({ filters, registries, stages }: { filters: Filters; registries: string[]; stages: string[] }) {
  const { sp, set, text, setText } = filters;
  const multiRegistry = registries.length > 1;
  return (
    <div className="flex flex-wrap gap-2" data-testid="filters">
      {multiRegistry && (
        <select aria-label="Registry" className={select} value={sp.get("registry") ?? ""} onChange={(e) => set({ registry: e.target.value || null })}>
          <option value="">All registries</option>
          {registries.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      )}
      <input
        aria-label="Repository"
        placeholder="Repository"
        value={text.repository}
        onChange={(e) => setText({ ...text, repository: e.target.value })}
        className={`${select} w-48`}
      />
      <input aria-label="Tag" placeholder="Tag" value={text.tag} onChange={(e) => setText({ ...text, tag: e.target.value })} className={`${select} w-32`} />
      <input
        aria-label="Digest prefix"
        placeholder="Digest prefix"
        value={text.digest}
        onChange={(e) => setText({ ...text, digest: e.target.value.trim() })}
        className={`${select} w-40 font-mono`}
      />
      <select
        aria-label="Signatures"
        className={select}
        value={sp.get("signed") ?? "any"}
        onChange={(e) => set({ signed: e.target.value === "any" ? null : e.target.value })}
      >
        <option value="any">Signed or not</option>
        <option value="signed">Signed</option>
        <option value="verified">Verified signature</option>
        <option value="unsigned">Unsigned</option>
      </select>
      <select aria-label="Stage" className={select} value={sp.get("stage") ?? ""} onChange={(e) => set({ stage: e.target.value || null })}>
        <option value="">Any stage</option>
        <option value="none">No stage passed</option>
        {stages.map((s) => (
          <option key={s} value={s}>
            Passed {s}
          </option>
        ))}
      </select>
      <select aria-label="Findings" className={select} value={sp.get("severity") ?? ""} onChange={(e) => set({ severity: e.target.value || null })}>
        <option value="">Any findings</option>
        <option value="critical">Has critical findings</option>
        <option value="high">Has high findings</option>
      </select>
      <select
        aria-label="Deleted"
        className={select}
        value={sp.get("deleted") ?? "hide"}
        onChange={(e) => set({ deleted: e.target.value === "hide" ? null : e.target.value })}
      >
        <option value="hide">Present in registry</option>
        <option value="show">Include deleted</option>
        <option value="only">Deleted only</option>
      </select>
      <label className="inline-flex items-center gap-1 text-sm text-slate-700">
        <input type="checkbox" aria-label="At risk only" checked={sp.get("atRisk") === "1"} onChange={(e) => set({ atRisk: e.target.checked ? "1" : null })} />{" "}
        At risk only
      </label>
      <select
        aria-label="Sort"
        className={select}
        value={`${sp.get("sort") ?? "repository"}:${sp.get("dir") ?? "asc"}`}
        onChange={(e) => {
          const [sort, dir] = e.target.value.split(":");
          set({ sort: sort === "repository" ? null : sort!, dir: dir === "asc" ? null : dir! });
        }}
      >
        <option value="repository:asc">Repository A→Z</option>
        <option value="repository:desc">Repository Z→A</option>
        <option value="seen:desc">Recently seen</option>
        <option value="created:desc">Newest build</option>
        <option value="created:asc">Oldest build</option>
      </select>
    </div>
  );
}

/** One image: where it is, its tags and warnings, digest, type, platforms, vulnerabilities, signatures and stage chain. */
function ImageRow({ img, multiRegistry }: { img: Item; multiRegistry: boolean }) {
  const href = `/images/${img.repository}@${img.digest}${multiRegistry ? `?registry=${encodeURIComponent(img.registry)}` : ""}`;
  return (
    <tr className="border-t border-slate-100 align-top" data-testid="image-row" data-repository={img.repository} data-digest={img.digest}>
      <td className="px-3 py-2 font-mono text-xs">
        {multiRegistry && <span className="text-slate-500">{img.registry}/</span>}
        {img.repository}
        {img.deleted && <span className="ml-1 rounded bg-rose-100 px-1 text-rose-700">deleted</span>}
      </td>
      <td className="px-3 py-2">
        {img.tags.length ? (
          img.tags.map((t) => (
            <span key={t} className="mr-1 rounded bg-sky-50 px-1.5 py-0.5 font-mono text-xs text-sky-800">
              {t}
            </span>
          ))
        ) : (
          <span className="text-xs text-slate-500">untagged</span>
        )}
        {img.warnings.map((w) => (
          <div key={w} className="mt-1 text-xs text-amber-800" data-testid="tag-warning">
            ⚠ {w}
          </div>
        ))}
        {img.atRisk?.length ? <AtRiskList risks={img.atRisk} compact /> : null}
      </td>
      <td className="px-3 py-2">
        <DigestChip digest={img.digest} href={href} />
      </td>
      <td className="px-3 py-2 text-xs text-slate-600" title={img.mediaType}>
        {mediaTypeLabel(img.mediaType)}
      </td>
      <td className="px-3 py-2 text-xs text-slate-600">{img.platforms.join(", ") || "–"}</td>
      <td className="px-3 py-2 text-xs" data-testid="severity-summary">
        <SeveritySummary counts={img.severities} />
      </td>
      <td className="px-3 py-2 text-xs" data-testid="sig-count">
        {img.signatures === 0 ? (
          <span className="text-slate-500">none</span>
        ) : (
          <span>
            {img.verifiedSignatures} of {img.signatures} verified
          </span>
        )}
        {img.pendingSignatures > 0 && <span className="ml-1 text-sky-700">({img.pendingSignatures} pending)</span>}
      </td>
      <td className="px-3 py-2 text-xs" data-testid="stage-chain">
        {(
          img.chain ??
          img.stages.map((s) => ({ label: s.stage, mark: s.state === "approved" ? "✓" : s.state === "signature pending" ? "…" : "–", detail: s.state }))
        ).map((c, i) => (
          <span key={c.label} title={c.detail} data-testid="chain-link" data-mark={c.mark}>
            {i > 0 && <span className="text-slate-500"> · </span>}
            <span className={c.mark === "✓" ? "text-emerald-700" : c.mark === "…" ? "text-sky-700" : c.mark === "✗" ? "text-rose-700" : "text-slate-500"}>
              {c.label} {c.mark}
            </span>
          </span>
        ))}
      </td>
    </tr>
  );
}

/** One page of images as a table, with the pager below it. */
function ImageResults({ data, multiRegistry, set }: { data: Page; multiRegistry: boolean; set: SetFilters }) {
  return (
    <div className="overflow-hidden rounded-lg border border-slate-200 bg-white">
      <table className="w-full text-sm">
        <thead className="bg-slate-50 text-left text-xs uppercase tracking-wide text-slate-500">
          <tr>
            <th className="px-3 py-2">Repository</th>
            <th className="px-3 py-2">Tags</th>
            <th className="px-3 py-2">Digest</th>
            <th className="px-3 py-2">Type</th>
            <th className="px-3 py-2">Platforms</th>
            <th className="px-3 py-2">Vulnerabilities</th>
            <th className="px-3 py-2">Signatures</th>
            <th className="px-3 py-2">Chain</th>
          </tr>
        </thead>
        <tbody>
          {data.items.map((img) => (
            <ImageRow key={`${img.registry}/${img.repository}@${img.digest}`} img={img} multiRegistry={multiRegistry} />
          ))}
        </tbody>
      </table>
      <div className="flex items-center gap-3 border-t border-slate-200 bg-slate-50 px-3 py-2 text-sm">
        <span data-testid="page-info">
          {(data.page - 1) * data.pageSize + 1}–{Math.min(data.page * data.pageSize, data.total)} of {data.total}
        </span>
        <button
          type="button"
          className="ml-auto rounded border border-slate-300 px-2 py-1 disabled:opacity-40"
          disabled={data.page <= 1}
          onClick={() => set({ page: String(data.page - 1) })}
        >
          Previous
        </button>
        <button
          type="button"
          className="rounded border border-slate-300 px-2 py-1 disabled:opacity-40"
          disabled={data.page >= data.pages}
          onClick={() => set({ page: String(data.page + 1) })}
        >
          Next
        </button>
      </div>
    </div>
  );
}

/** The image list. Filters, sort and page live in the URL, so a view can be shared as a link. */
export function ImagesTable({ registries, stages }: { registries: string[]; stages: string[] }) {
  const filters = useUrlFilters();
  const { sp, key, set } = filters;
  const images = useQuery({ queryKey: ["images", key], queryFn: () => api<Page>(`/api/v1/images?${key}`), placeholderData: (prev) => prev });
  const data = images.data;
  const multiRegistry = registries.length > 1;

  return (
    <div className="space-y-4">
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-2xl font-semibold">Images</h1>
        <div className="ml-auto">
          {sp.get("registry") || registries.length <= 1 ? (
            <SyncButton registry={sp.get("registry") ?? registries[0]} />
          ) : (
            <a href="/registries" className="text-sm text-sky-700 hover:underline">
              Sync registries…
            </a>
          )}
        </div>
      </div>
      <ImageFilters filters={filters} registries={registries} stages={stages} />
      {images.isLoading && <p className="text-slate-500">Loading…</p>}
      {images.error && (
        <p className="text-rose-700" role="alert">
          Could not load images: {images.error.message}
        </p>
      )}
      {data && data.total === 0 && <p className="text-slate-500">No images match. Press “Sync now” to read the registry, or change the filters.</p>}
      {data && data.total > 0 && <ImageResults data={data} multiRegistry={multiRegistry} set={set} />}
    </div>
  );
}
