"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "./api";
import { DigestChip } from "./digest-chip";

interface ImageRow {
  digest: string;
  tags: string[];
  mediaType: string;
  platforms: string[];
  signatures: number;
  verifiedSignatures: number;
  currentStage: string | null;
  pendingSignatures: number;
}
interface RepoRow {
  registry: string;
  repository: string;
  images: ImageRow[];
}
interface SyncResult {
  repositories: number;
  tags: number;
  newManifests: number;
  errors: { repository: string; message: string }[];
  durationMs: number;
}

function mediaTypeLabel(mt: string) {
  if (mt.includes("image.index") || mt.includes("manifest.list")) return "index";
  if (mt.includes("docker.distribution.manifest.v2")) return "docker manifest";
  return "oci manifest";
}

export function ImagesTable() {
  const qc = useQueryClient();
  const [q, setQ] = useState("");
  const images = useQuery({ queryKey: ["images"], queryFn: () => api<{ repositories: RepoRow[] }>("/api/v1/images") });
  const sync = useMutation({
    mutationFn: () => api<SyncResult>("/api/v1/sync", { method: "POST", body: "{}" }),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["images"] }),
  });
  const repos = (images.data?.repositories ?? []).filter((r) => !q || r.repository.includes(q.toLowerCase()));
  const multiRegistry = new Set(images.data?.repositories.map((r) => r.registry)).size > 1;

  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">Images</h1>
        <input value={q} onChange={(e) => setQ(e.target.value)} placeholder="Filter repositories" className="ml-4 w-64 rounded border border-slate-300 px-3 py-1.5 text-sm" />
        <div className="ml-auto flex items-center gap-3">
          {sync.data && (
            <span className="text-sm text-slate-600" role="status">
              Synced {sync.data.repositories} repositories, {sync.data.tags} tags, {sync.data.newManifests} new manifests in {(sync.data.durationMs / 1000).toFixed(1)} s
              {sync.data.errors.length > 0 && <span className="text-rose-700"> · {sync.data.errors.length} errors: {sync.data.errors.map((e) => `${e.repository}: ${e.message}`).join("; ")}</span>}
            </span>
          )}
          {sync.error && <span className="text-sm text-rose-700" role="alert">Sync failed: {sync.error.message}</span>}
          <button type="button" onClick={() => sync.mutate()} disabled={sync.isPending} className="rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-60">
            {sync.isPending ? "Syncing…" : "Sync now"}
          </button>
        </div>
      </div>
      {images.isLoading && <p className="text-slate-500">Loading…</p>}
      {images.error && <p className="text-rose-700" role="alert">Could not load images: {images.error.message}</p>}
      {images.data && repos.length === 0 && <p className="text-slate-500">No images yet. Press “Sync now” to read the registry.</p>}
      {repos.map((repo) => (
        <section key={`${repo.registry}/${repo.repository}`} className="overflow-hidden rounded-lg border border-slate-200 bg-white" data-testid="repository">
          <h2 className="border-b border-slate-200 bg-slate-50 px-4 py-2 font-mono text-sm font-semibold">
            {multiRegistry && <span className="text-slate-500">{repo.registry}/</span>}
            {repo.repository}
          </h2>
          <table className="w-full text-sm">
            <thead className="text-left text-xs uppercase tracking-wide text-slate-500">
              <tr>
                <th className="px-4 py-2">Tags</th>
                <th className="px-4 py-2">Digest</th>
                <th className="px-4 py-2">Type</th>
                <th className="px-4 py-2">Platforms</th>
                <th className="px-4 py-2">Signatures</th>
                <th className="px-4 py-2">Stage</th>
              </tr>
            </thead>
            <tbody>
              {repo.images.map((img) => {
                const href = `/images/${repo.repository}@${img.digest}${multiRegistry ? `?registry=${encodeURIComponent(repo.registry)}` : ""}`;
                return (
                  <tr key={img.digest} className="border-t border-slate-100" data-testid="image-row">
                    <td className="px-4 py-2">
                      {img.tags.length ? img.tags.map((t) => <span key={t} className="mr-1 rounded bg-sky-50 px-1.5 py-0.5 font-mono text-xs text-sky-800">{t}</span>) : <span className="text-xs text-slate-400">untagged</span>}
                    </td>
                    <td className="px-4 py-2"><DigestChip digest={img.digest} href={href} /></td>
                    <td className="px-4 py-2 text-xs text-slate-600" title={img.mediaType}>{mediaTypeLabel(img.mediaType)}</td>
                    <td className="px-4 py-2 text-xs text-slate-600">{img.platforms.join(", ") || "–"}</td>
                    <td className="px-4 py-2 text-xs" data-testid="sig-count">
                      {img.signatures === 0 ? <span className="text-slate-400">none</span> : <span>{img.verifiedSignatures} of {img.signatures} verified</span>}
                      {img.pendingSignatures > 0 && <span className="ml-1 text-sky-700">({img.pendingSignatures} pending)</span>}
                    </td>
                    <td className="px-4 py-2 text-xs">{img.currentStage ? <span className="rounded bg-emerald-100 px-1.5 py-0.5 font-medium text-emerald-800">{img.currentStage}</span> : <span className="text-slate-400">–</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}
