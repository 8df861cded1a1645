"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { api } from "./api";
import { SyncButton } from "./sync-button";

interface Registry {
  name: string;
  url: string;
  pullName: string | null;
  enabled: boolean;
  readCredentials: string | null;
  pushCredentials: string | null;
  tokenRealm: string | null;
  pendingRealm: string | null;
  repositories: string[];
  syncIntervalMinutes: number | null;
  webhookToken: string | null;
  lastSyncAt: string | null;
  lastSyncInfo: { status?: string; repositories?: number; tags?: number; errors?: number; fatal?: string | null; durationMs?: number } | null;
  lastTestResult: { ok: boolean; stage?: string; detail?: string; message?: string; challenge?: string } | null;
}

const input = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";

function RegistryForm({ initial, onSaved, onCancel }: { initial?: Registry; onSaved: () => void; onCancel?: () => void }) {
  const [f, setF] = useState({
    name: initial?.name ?? "",
    url: initial?.url ?? "",
    pullName: initial?.pullName ?? "",
    username: "",
    password: "",
    pushUsername: "",
    pushPassword: "",
    repositories: initial?.repositories.join("\n") ?? "",
    syncIntervalMinutes: initial?.syncIntervalMinutes ? String(initial.syncIntervalMinutes) : "",
    caBundle: "",
  });
  const save = useMutation({
    mutationFn: () => {
      const body: Record<string, unknown> = {
        url: f.url.trim(),
        pullName: f.pullName.trim() || null,
        repositories: f.repositories.split(/[\s,]+/).filter(Boolean),
        syncIntervalMinutes: f.syncIntervalMinutes ? Number(f.syncIntervalMinutes) : null,
      };
      if (f.username) body.readCredentials = { username: f.username, password: f.password };
      if (f.pushUsername) body.pushCredentials = { username: f.pushUsername, password: f.pushPassword };
      if (f.caBundle.trim()) body.caBundle = f.caBundle;
      return initial
        ? api(`/api/v1/registries/${encodeURIComponent(initial.name)}`, { method: "PATCH", body: JSON.stringify(body) })
        : api("/api/v1/registries", { method: "POST", body: JSON.stringify({ name: f.name.trim(), ...body }) });
    },
    onSuccess: onSaved,
  });
  const field = (k: keyof typeof f, label: string, props: React.InputHTMLAttributes<HTMLInputElement> = {}) => (
    <label className="text-sm">
      <span className="block text-slate-600">{label}</span>
      <input name={k} value={f[k]} onChange={(e) => setF({ ...f, [k]: e.target.value })} className={input} {...props} />
    </label>
  );
  return (
    <form
      className="grid gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-2"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
      data-testid="registry-form"
    >
      <h2 className="font-semibold sm:col-span-2">{initial ? `Edit ${initial.name}` : "Add a registry"}</h2>
      {!initial && field("name", "Name", { required: true, placeholder: "harbor-prod" })}
      {field("url", "URL", { required: true, placeholder: "https://registry.example.com" })}
      {field("pullName", "Pull name (if clients use another host)", { placeholder: "registry.example.com" })}
      {field("syncIntervalMinutes", "Re-sync every (minutes)", { inputMode: "numeric", placeholder: "e.g. 60" })}
      {field("username", initial?.readCredentials ? "Read user (set; leave empty to keep)" : "Read user (empty: anonymous)", { autoComplete: "off" })}
      {field("password", "Read password or token", { type: "password", autoComplete: "new-password" })}
      {field("pushUsername", initial?.pushCredentials ? "Push user (set; leave empty to keep)" : "Push user for signatures (empty: read user)", {
        autoComplete: "off",
      })}
      {field("pushPassword", "Push password or token", { type: "password", autoComplete: "new-password" })}
      <label className="text-sm sm:col-span-2">
        <span className="block text-slate-600">Repositories (for registries without a catalog: GHCR, ECR, Docker Hub), one per line</span>
        <textarea name="repositories" value={f.repositories} onChange={(e) => setF({ ...f, repositories: e.target.value })} rows={2} className={input} />
      </label>
      <label className="text-sm sm:col-span-2">
        <span className="block text-slate-600">CA bundle (PEM), if the registry uses a private CA</span>
        <textarea
          name="caBundle"
          value={f.caBundle}
          onChange={(e) => setF({ ...f, caBundle: e.target.value })}
          rows={2}
          className={`${input} font-mono text-xs`}
        />
      </label>
      {save.error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700 sm:col-span-2">
          {save.error.message}
        </p>
      )}
      <div className="flex gap-2 sm:col-span-2">
        <button type="submit" disabled={save.isPending} className="rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-60">
          {initial ? "Save" : "Add registry"}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel} className="rounded border border-slate-300 px-3 py-1.5 text-sm">
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function RegistryCard({ r, isAdmin }: { r: Registry; isAdmin: boolean }) {
  const qc = useQueryClient();
  const [editing, setEditing] = useState(false);
  const [webhookToken, setWebhookToken] = useState<string | null>(null);
  const refresh = () => qc.invalidateQueries({ queryKey: ["registries"] });
  const test = useMutation({
    mutationFn: () => api<{ result: Registry["lastTestResult"] }>(`/api/v1/registries/${encodeURIComponent(r.name)}/test`, { method: "POST", body: "{}" }),
    onSuccess: refresh,
  });
  const confirm = useMutation({
    // The realm shown here: the server confirms it only if it is still the one pending.
    mutationFn: () =>
      api(`/api/v1/registries/${encodeURIComponent(r.name)}/confirm-realm`, { method: "POST", body: JSON.stringify({ realm: r.pendingRealm }) }),
    onSuccess: refresh,
  });
  const remove = useMutation({ mutationFn: () => api(`/api/v1/registries/${encodeURIComponent(r.name)}`, { method: "DELETE" }), onSuccess: refresh });
  const rotate = useMutation({
    mutationFn: () => api<{ token: string }>(`/api/v1/registries/${encodeURIComponent(r.name)}/webhook-token`, { method: "POST", body: "{}" }),
    onSuccess: (d) => {
      setWebhookToken(d.token);
      refresh();
    },
  });
  const t = test.data?.result ?? r.lastTestResult;
  if (editing)
    return (
      <RegistryForm
        initial={r}
        onSaved={() => {
          setEditing(false);
          refresh();
        }}
        onCancel={() => setEditing(false)}
      />
    );
  return (
    <section className="space-y-2 rounded-lg border border-slate-200 bg-white p-4" data-testid="registry-card" data-name={r.name}>
      <div className="flex flex-wrap items-center gap-3">
        <h2 className="font-mono font-semibold">{r.name}</h2>
        <span className="font-mono text-xs text-slate-500">{r.url}</span>
        {!r.enabled && <span className="rounded bg-slate-200 px-1.5 text-xs">disabled</span>}
        <span className="text-xs text-slate-500">
          {r.readCredentials ? "authenticated" : "anonymous"}
          {r.pushCredentials ? ", push credentials set" : ""}
        </span>
        <div className="ml-auto">
          <SyncButton registry={r.name} onDone={refresh} />
        </div>
      </div>
      <p className="text-xs text-slate-600" data-testid="last-sync">
        {r.lastSyncAt
          ? `Last sync ${new Date(r.lastSyncAt).toLocaleString("en-GB", { timeZone: "UTC" })} UTC: ${r.lastSyncInfo?.status ?? "?"}, ${r.lastSyncInfo?.repositories ?? 0} repositories, ${r.lastSyncInfo?.tags ?? 0} tags, ${r.lastSyncInfo?.errors ?? 0} errors${r.lastSyncInfo?.fatal ? ` (${r.lastSyncInfo.fatal})` : ""}`
          : "Never synced."}
        {r.syncIntervalMinutes ? ` Re-synced every ${r.syncIntervalMinutes} min.` : ""}
      </p>
      {t && (
        <p
          className={`rounded px-3 py-2 text-sm ${t.ok ? "bg-emerald-50 text-emerald-800" : "bg-rose-50 text-rose-800"}`}
          role="status"
          data-testid="test-result"
        >
          {t.ok ? "Connection OK." : `Connection failed at ${t.stage}: ${t.detail}`}
          {t.challenge ? ` Challenge: ${t.challenge}` : ""}
          {t.message ? ` ${t.message}` : ""}
        </p>
      )}
      {r.pendingRealm && (
        <p className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          The token realm changed from <span className="font-mono">{r.tokenRealm}</span> to <span className="font-mono">{r.pendingRealm}</span>. Credentials are
          not sent to it until an admin confirms.
          {isAdmin && (
            <button type="button" className="ml-2 rounded border border-amber-400 px-2 py-0.5" onClick={() => confirm.mutate()}>
              Confirm new realm
            </button>
          )}
        </p>
      )}
      {r.tokenRealm && !r.pendingRealm && (
        <p className="text-xs text-slate-500">
          Token realm: <span className="font-mono">{r.tokenRealm}</span>
        </p>
      )}
      {webhookToken && (
        <p className="rounded bg-sky-50 px-3 py-2 text-xs text-sky-900">
          Webhook token (shown once):{" "}
          <span className="break-all font-mono" data-testid="webhook-token">
            {webhookToken}
          </span>
          . Send it as <span className="font-mono">Authorization: Bearer …</span> to{" "}
          <span className="font-mono">/api/v1/registries/{r.name}/notifications</span>.
        </p>
      )}
      {isAdmin && (
        <div className="flex flex-wrap gap-2 text-sm">
          <button
            type="button"
            onClick={() => test.mutate()}
            disabled={test.isPending}
            className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100"
          >
            {test.isPending ? "Testing…" : "Test connection"}
          </button>
          <button type="button" onClick={() => setEditing(true)} className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100">
            Edit
          </button>
          <button type="button" onClick={() => rotate.mutate()} className="rounded border border-slate-300 px-2 py-1 hover:bg-slate-100">
            {r.webhookToken ? "Rotate webhook token" : "Create webhook token"}
          </button>
          <button
            type="button"
            onClick={() => {
              if (window.confirm(`Remove registry ${r.name}?`)) remove.mutate();
            }}
            className="rounded border border-rose-300 px-2 py-1 text-rose-700 hover:bg-rose-50"
          >
            Remove
          </button>
        </div>
      )}
      {(test.error || confirm.error || remove.error || rotate.error) && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {(test.error ?? confirm.error ?? remove.error ?? rotate.error)!.message}
        </p>
      )}
    </section>
  );
}

export function RegistriesAdmin({ isAdmin }: { isAdmin: boolean }) {
  const qc = useQueryClient();
  const [adding, setAdding] = useState(false);
  const list = useQuery({ queryKey: ["registries"], queryFn: () => api<{ registries: Registry[] }>("/api/v1/registries") });
  return (
    <div className="space-y-4">
      <div className="flex items-center gap-3">
        <h1 className="text-2xl font-semibold">Registries</h1>
        {isAdmin && !adding && (
          <button type="button" onClick={() => setAdding(true)} className="ml-auto rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white">
            Add registry
          </button>
        )}
      </div>
      {adding && (
        <RegistryForm
          onSaved={() => {
            setAdding(false);
            qc.invalidateQueries({ queryKey: ["registries"] });
          }}
          onCancel={() => setAdding(false)}
        />
      )}
      {list.error && (
        <p role="alert" className="text-rose-700">
          {list.error.message}
        </p>
      )}
      {list.data?.registries.map((r) => (
        <RegistryCard key={r.name} r={r} isAdmin={isAdmin} />
      ))}
    </div>
  );
}
