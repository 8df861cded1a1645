"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "./api";

interface SyncRun {
  id: string;
  status: "queued" | "running" | "succeeded" | "failed";
  reposTotal: number;
  reposDone: number;
  errors: { repository: string; message: string }[];
  stats: { tags?: number; newManifests?: number; durationMs?: number; manifestBodiesFetched?: number; tagMoves?: number; deleted?: number } | null;
}

/** Queues a sync job and shows its progress (repositories done / total, errors so far) until it ends. */
export function SyncButton({ registry, onDone }: { registry?: string; onDone?: () => void }) {
  const qc = useQueryClient();
  const [runId, setRunId] = useState<string | null>(null);
  const start = useMutation({
    mutationFn: () => api<SyncRun>(registry ? `/api/v1/registries/${encodeURIComponent(registry)}/sync` : "/api/v1/sync", { method: "POST", body: "{}" }),
    onSuccess: (run) => setRunId(run.id),
  });
  const run = useQuery({
    queryKey: ["sync-run", runId],
    queryFn: async () => {
      const r = await api<SyncRun>(`/api/v1/sync-runs/${runId}`);
      if (r.status === "succeeded" || r.status === "failed") {
        qc.invalidateQueries({ queryKey: ["images"] });
        qc.invalidateQueries({ queryKey: ["registries"] });
        onDone?.();
      }
      return r;
    },
    enabled: Boolean(runId),
    refetchInterval: (q) => (q.state.data && (q.state.data.status === "succeeded" || q.state.data.status === "failed") ? false : 700),
  });
  const r = run.data;
  const busy = start.isPending || (r ? r.status === "queued" || r.status === "running" : Boolean(runId));
  return (
    <div className="flex items-center gap-3">
      {r && (
        <span className="text-sm text-slate-600" role="status" data-testid="sync-progress">
          {r.status === "queued" && "Sync queued…"}
          {r.status === "running" && `Syncing: ${r.reposDone} / ${r.reposTotal || "?"} repositories`}
          {r.status === "succeeded" &&
            `Synced ${r.reposDone} / ${r.reposTotal} repositories: ${r.stats?.tags ?? 0} tags, ${r.stats?.newManifests ?? 0} new manifests, ${r.stats?.tagMoves ?? 0} tag moves in ${((r.stats?.durationMs ?? 0) / 1000).toFixed(1)} s`}
          {r.status === "failed" && "Sync failed"}
          {r.errors.length > 0 && (
            <span className="text-rose-700">
              {" "}
              · {r.errors.length} error(s):{" "}
              {r.errors
                .slice(0, 3)
                .map((e) => `${e.repository}: ${e.message}`)
                .join("; ")}
            </span>
          )}
        </span>
      )}
      {start.error && (
        <span className="text-sm text-rose-700" role="alert">
          Sync failed: {start.error.message}
        </span>
      )}
      <button
        type="button"
        onClick={() => start.mutate()}
        disabled={busy}
        className="rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white hover:bg-slate-700 disabled:opacity-60"
      >
        {busy ? "Syncing…" : "Sync now"}
      </button>
    </div>
  );
}
