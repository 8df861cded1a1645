"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "./api";

const input = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";
const button = "rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50";
const small = "rounded border border-slate-300 px-2 py-1 text-xs disabled:opacity-50";

function ErrorLine({ error }: { error: Error | null }) {
  return error ? (
    <p role="alert" className="text-sm text-rose-700">
      {error.message}
    </p>
  ) : null;
}

/** Create a token: scopes limited to what the role allows; the secret is shown once. */
export function CreateTokenForm({ allowed, defaultDays, maxDays, forOthers }: { allowed: string[]; defaultDays: number; maxDays: number; forOthers: boolean }) {
  const router = useRouter();
  const [name, setName] = useState("");
  const [email, setEmail] = useState("");
  const [days, setDays] = useState(String(defaultDays));
  const [scopes, setScopes] = useState<string[]>(allowed.includes("read") ? ["read"] : []);
  const [made, setMade] = useState<{ token: string; prefix: string } | null>(null);
  const create = useMutation({
    mutationFn: () =>
      api<{ token: string; prefix: string }>("/api/v1/tokens", {
        method: "POST",
        body: JSON.stringify({ name: name || undefined, scopes, expires: `${days}d`, ...(forOthers && email ? { email } : {}) }),
      }),
    onSuccess: (t) => {
      setMade(t);
      router.refresh();
    },
  });
  return (
    <form
      className="space-y-3 rounded-lg border border-slate-200 bg-white p-4"
      aria-label="Create token"
      onSubmit={(e) => {
        e.preventDefault();
        create.mutate();
      }}
    >
      <h2 className="font-medium">Create a token</h2>
      <div className="grid gap-2 sm:grid-cols-3">
        <label className="text-xs">
          Name
          <input className={input} value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. ci-pipeline" maxLength={100} />
        </label>
        <label className="text-xs">
          Expires in (days, at most {maxDays})
          <input className={input} type="number" min={1} max={maxDays} value={days} onChange={(e) => setDays(e.target.value)} required />
        </label>
        {forOthers && (
          <label className="text-xs">
            For user (email; empty = you)
            <input className={input} type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
          </label>
        )}
      </div>
      <fieldset className="flex flex-wrap gap-3 text-sm">
        <legend className="mb-1 text-xs text-slate-600">Scopes (an admission token answers only verify and ImageReview)</legend>
        {allowed.map((s) => (
          <label key={s} className="inline-flex items-center gap-1">
            <input
              type="checkbox"
              checked={scopes.includes(s)}
              onChange={(e) => setScopes(e.target.checked ? [...scopes, s] : scopes.filter((x) => x !== s))}
            />
            {s}
          </label>
        ))}
      </fieldset>
      <button className={button} disabled={create.isPending || scopes.length === 0}>
        Create token
      </button>
      <ErrorLine error={create.error} />
      {made && (
        <div className="rounded bg-emerald-50 p-3 text-sm" data-testid="new-token">
          <p className="mb-1 text-emerald-800">Copy it now; it is not shown again:</p>
          <code className="break-all font-mono text-xs">{made.token}</code>
        </div>
      )}
    </form>
  );
}

export function RevokeTokenButton({ id }: { id: string }) {
  const router = useRouter();
  const revoke = useMutation({ mutationFn: () => api(`/api/v1/tokens/${encodeURIComponent(id)}`, { method: "DELETE" }), onSuccess: () => router.refresh() });
  return (
    <span>
      <button className={small} disabled={revoke.isPending} onClick={() => revoke.mutate()}>
        Revoke
      </button>
      <ErrorLine error={revoke.error} />
    </span>
  );
}

/** Role and enabled state of one user (admins). */
export function UserActions({ email, role, disabled, oidc }: { email: string; role: string; disabled: boolean; oidc: boolean }) {
  const router = useRouter();
  const patch = useMutation({
    mutationFn: (body: { role?: string; disabled?: boolean }) =>
      api(`/api/v1/users/${encodeURIComponent(email)}`, { method: "PATCH", body: JSON.stringify(body) }),
    onSuccess: () => router.refresh(),
  });
  return (
    <div className="flex flex-wrap items-center gap-2">
      <select
        aria-label={`Role of ${email}`}
        className="rounded border border-slate-300 px-1 py-0.5 text-xs"
        value={role}
        disabled={patch.isPending}
        title={oidc ? "Signs in with OpenID Connect: the next sign-in sets the role from the provider's groups again" : undefined}
        onChange={(e) => patch.mutate({ role: e.target.value })}
      >
        {["admin", "reviewer", "developer", "manager"].map((r) => (
          <option key={r} value={r}>
            {r}
          </option>
        ))}
      </select>
      <button className={small} disabled={patch.isPending} onClick={() => patch.mutate({ disabled: !disabled })}>
        {disabled ? "Enable" : "Disable"}
      </button>
      <ErrorLine error={patch.error} />
    </div>
  );
}

/**
 * Set your own password (needs the current one). A password an admin set is a temporary one: `temporaryFrom` names who
 * set it, and reviews wait until this form is used. Every session ends, this one too, so the next stop is sign-in.
 */
export function ChangePasswordForm({ temporaryFrom }: { temporaryFrom: string | null }) {
  const [currentPassword, setCurrent] = useState("");
  const [newPassword, setNew] = useState("");
  const change = useMutation({
    mutationFn: () => api("/api/v1/account/password", { method: "POST", body: JSON.stringify({ currentPassword, newPassword }) }),
    onSuccess: () => window.location.assign("/signin"),
  });
  return (
    <form
      className="space-y-3 rounded-lg border border-slate-200 bg-white p-4"
      aria-label="Change password"
      onSubmit={(e) => {
        e.preventDefault();
        change.mutate();
      }}
    >
      <h2 className="font-medium">Your password</h2>
      {temporaryFrom && (
        <p role="status" className="text-sm text-amber-800" data-testid="temporary-password">
          Your password was set by {temporaryFrom}. Until you set your own, you cannot review, grant waivers or make review tokens.
        </p>
      )}
      <div className="grid gap-2 sm:grid-cols-2">
        <label className="text-xs">
          Current password
          <input
            className={input}
            type="password"
            autoComplete="current-password"
            value={currentPassword}
            onChange={(e) => setCurrent(e.target.value)}
            required
          />
        </label>
        <label className="text-xs">
          New password (at least 8 characters)
          <input
            className={input}
            type="password"
            autoComplete="new-password"
            minLength={8}
            value={newPassword}
            onChange={(e) => setNew(e.target.value)}
            required
          />
        </label>
      </div>
      <button className={button} disabled={change.isPending}>
        Set my password (signs you out)
      </button>
      <ErrorLine error={change.error} />
    </form>
  );
}
