"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ErrorLine, button, input, small } from "./admin-form";
import { api } from "./api";
import { ConfirmDialog } from "./confirm-dialog";
import { matchesAnyBuilder } from "@/lib/signing/trust/identities";

/** "a b, c" → ["a", "b", "c"]: builder ids and scopes are typed separated by spaces, commas or lines. */
const splitList = (v: string) => v.split(/[\s,]+/).filter(Boolean);

/** The warning for a builder that may vouch for any builder id (`**`). */
function AnyBuilderWarning({ testId }: { testId: string }) {
  return (
    <p role="note" data-testid={testId} className="rounded bg-amber-50 px-3 py-2 text-xs text-amber-800">
      Vouches for any builder id: provenance this key signs satisfies a stage&apos;s builder patterns whatever builder it names. List the builders it runs
      instead.
    </p>
  );
}

async function readFile(f: File | undefined | null): Promise<string | null> {
  return f ? f.text() : null;
}

/** The add form's builder ids (role builder only): required, with the warning when they allow any builder. */
function BuilderIdsField({ value, onChange }: { value: string; onChange: (e: { target: { value: string } }) => void }) {
  return (
    <>
      <label className="block text-xs">
        Builder ids it may vouch for (patterns; ** for any)
        <input
          className={input}
          name="builderIds"
          value={value}
          onChange={onChange}
          placeholder="https://ci.team.example/* https://github.com/acme/*/.github/workflows/*"
          required
        />
      </label>
      {splitList(value).some(matchesAnyBuilder) && <AnyBuilderWarning testId="any-builder-form-warning" />}
    </>
  );
}

/** Add a trust identity of any kind: key (cosign.pub), certificate roots, Sigstore trusted_root.json, TSA roots. */
export function AddTrustIdentityForm() {
  const router = useRouter();
  const [f, setF] = useState({
    name: "",
    kind: "key",
    role: "publisher",
    scope: "**",
    builderIds: "",
    material: "",
    subject: "",
    san: "",
    oidcIssuer: "",
    anyIdentity: false,
    validFrom: "",
    validUntil: "",
  });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const save = useMutation({
    mutationFn: () => {
      const material = f.kind === "key" ? { publicKeyPem: f.material } : f.kind === "sigstore" ? { trustedRoot: f.material } : { certificates: f.material };
      const certificate =
        f.kind === "certificate" || f.kind === "sigstore"
          ? { subject: f.subject || null, san: f.san || null, oidcIssuer: f.oidcIssuer || null, ...(f.anyIdentity ? { anyIdentityUnderRoot: true } : {}) }
          : {};
      return api("/api/v1/trust", {
        method: "POST",
        body: JSON.stringify({
          name: f.name,
          kind: f.kind,
          role: f.role,
          scope: splitList(f.scope),
          ...(f.role === "builder" ? { builderIds: splitList(f.builderIds) } : {}),
          ...material,
          ...certificate,
          ...(f.validFrom ? { validFrom: new Date(f.validFrom).toISOString() } : {}),
          ...(f.validUntil ? { validUntil: new Date(f.validUntil).toISOString() } : {}),
        }),
      });
    },
    onSuccess: () => {
      setF({ ...f, name: "", material: "" });
      router.refresh();
    },
  });
  return (
    <form
      className="space-y-2 rounded-lg border border-slate-200 bg-white p-4"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate();
      }}
      aria-label="Add trust identity"
    >
      <h3 className="font-medium">Add a trust identity</h3>
      <div className="grid gap-2 sm:grid-cols-4">
        <label className="text-xs">
          Name
          <input className={input} value={f.name} onChange={set("name")} required />
        </label>
        <label className="text-xs">
          Kind
          <select className={input} value={f.kind} onChange={set("kind")} name="kind">
            <option value="key">key (cosign.pub)</option>
            <option value="certificate">certificate root</option>
            <option value="sigstore">Sigstore trusted_root.json</option>
            <option value="tsa">timestamp authority</option>
          </select>
        </label>
        <label className="text-xs">
          Role
          <select className={input} value={f.role} onChange={set("role")} name="role">
            <option value="publisher">publisher</option>
            <option value="team">team</option>
            <option value="stage">stage</option>
            <option value="builder">builder (signs provenance)</option>
            <option value="scanner">scanner (signs scans, SBOMs, VEX)</option>
          </select>
        </label>
        <label className="text-xs">
          Scope (repository patterns)
          <input className={input} value={f.scope} onChange={set("scope")} placeholder="library/* apps/**" />
        </label>
      </div>
      {f.role === "builder" && <BuilderIdsField value={f.builderIds} onChange={set("builderIds")} />}
      <label className="block text-xs">
        {f.kind === "key" ? "Public key (PEM)" : f.kind === "sigstore" ? "trusted_root.json" : "Certificates (PEM, root and intermediates)"}
        <textarea className={`${input} h-28 font-mono text-xs`} value={f.material} onChange={set("material")} required />
      </label>
      <label className="block text-xs">
        …or upload a file <input type="file" onChange={async (e) => setF({ ...f, material: (await readFile(e.target.files?.[0])) ?? f.material })} />
      </label>
      {(f.kind === "certificate" || f.kind === "sigstore") && (
        <>
          <div className="grid gap-2 sm:grid-cols-3">
            <label className="text-xs">
              Subject (exact or *)
              <input className={input} value={f.subject} onChange={set("subject")} placeholder="CN=release, O=Acme" />
            </label>
            <label className="text-xs">
              or SAN (pattern)
              <input className={input} value={f.san} onChange={set("san")} placeholder="https://github.com/acme/*" />
            </label>
            <label className="text-xs">
              with OIDC issuer{f.kind === "sigstore" ? " (required with a SAN)" : ""}
              <input className={input} value={f.oidcIssuer} onChange={set("oidcIssuer")} placeholder="https://token.actions.githubusercontent.com" />
            </label>
          </div>
          <label className="flex items-start gap-2 text-xs">
            <input type="checkbox" name="anyIdentityUnderRoot" checked={f.anyIdentity} onChange={(e) => setF({ ...f, anyIdentity: e.target.checked })} />
            <span>Any identity under this root (no subject or SAN)</span>
          </label>
          {f.anyIdentity && (
            <p role="note" data-testid="any-identity-warning" className="rounded bg-amber-50 px-3 py-2 text-xs text-amber-800">
              Every certificate issued under this root will be trusted as {f.role} for the scope above.
              {f.kind === "sigstore"
                ? " With the public Sigstore root that is anyone with an e-mail or CI account."
                : " Use this only for a private CA that issues to this signer alone."}
            </p>
          )}
        </>
      )}
      <div className="grid gap-2 sm:grid-cols-2">
        <label className="text-xs">
          Valid from (optional)
          <input type="datetime-local" className={input} value={f.validFrom} onChange={set("validFrom")} />
        </label>
        <label className="text-xs">
          Valid until (optional)
          <input type="datetime-local" className={input} value={f.validUntil} onChange={set("validUntil")} />
        </label>
      </div>
      <ErrorLine error={save.error} />
      <button className={button} disabled={save.isPending}>
        Add identity
      </button>
    </form>
  );
}

/**
 * A builder identity's builder ids: shown, warned about when they allow any builder, and (for admins) edited. A
 * narrower list is a trust change: the approved images are judged again at once.
 */
export function BuilderIds({ name, builderIds, admin }: { name: string; builderIds: string[]; admin: boolean }) {
  const router = useRouter();
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(builderIds.join(" "));
  const save = useMutation({
    mutationFn: () => api(`/api/v1/trust/${encodeURIComponent(name)}`, { method: "PATCH", body: JSON.stringify({ builderIds: splitList(value) }) }),
    onSuccess: () => {
      setEditing(false);
      router.refresh();
    },
  });
  return (
    <div className="mt-1 space-y-1 text-xs" data-testid="builder-ids">
      <div className="text-slate-600">
        builder ids it may vouch for: <span className="font-mono">{builderIds.join(", ") || "none"}</span>
        {admin && !editing && (
          <button type="button" className={`${small} ml-2`} onClick={() => setEditing(true)} data-testid={`edit-builder-ids-${name}`}>
            Edit<span className="sr-only"> builder ids of {name}</span>
          </button>
        )}
      </div>
      {builderIds.some(matchesAnyBuilder) && <AnyBuilderWarning testId="any-builder-warning" />}
      {editing && (
        <form
          className="flex flex-wrap items-end gap-2"
          aria-label={`Builder ids of ${name}`}
          onSubmit={(e) => {
            e.preventDefault();
            save.mutate();
          }}
        >
          <label className="grow">
            Builder ids (patterns, separated by spaces)
            <input className={input} name="builderIds" value={value} onChange={(e) => setValue(e.target.value)} required />
          </label>
          <button className={small} disabled={save.isPending}>
            Save builder ids
          </button>
          <button type="button" className={small} onClick={() => setEditing(false)}>
            Cancel
          </button>
          <ErrorLine error={save.error} />
        </form>
      )}
    </div>
  );
}

interface TrustDeletionPreview {
  name: string;
  kind: string;
  role: string;
  signatures: { registry: string; repository: string; digest: string; role: string | null; layerDigest: string; format: string }[];
  images: number;
}

/** Revoke (from an effective time) or delete an identity; deleting asks first and lists the signatures it vouched for. */
export function TrustIdentityActions({ name, revoked }: { name: string; revoked: boolean }) {
  const router = useRouter();
  const [at, setAt] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [confirmingRevoke, setConfirmingRevoke] = useState(false);
  const [preview, setPreview] = useState<TrustDeletionPreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const revoke = useMutation({
    mutationFn: () =>
      api(`/api/v1/trust/${encodeURIComponent(name)}`, {
        method: "PATCH",
        body: JSON.stringify({ revokedAt: revoked ? null : at ? new Date(at).toISOString() : new Date().toISOString() }),
      }),
    onSuccess: () => {
      setConfirmingRevoke(false);
      router.refresh();
    },
  });
  const remove = useMutation({
    mutationFn: () => api(`/api/v1/trust/${encodeURIComponent(name)}`, { method: "DELETE" }),
    onSuccess: () => {
      setConfirming(false);
      router.refresh();
    },
  });
  function ask() {
    setPreview(null);
    setPreviewError(null);
    remove.reset();
    setConfirming(true);
    api<TrustDeletionPreview>(`/api/v1/trust/${encodeURIComponent(name)}/preview`).then(setPreview, (e: Error) => setPreviewError(e.message));
  }
  return (
    <div className="mt-2 flex flex-wrap items-center gap-2">
      {!revoked && (
        <label className="text-xs">
          revoke from{" "}
          <input type="datetime-local" className="rounded border border-slate-400 px-1 text-xs" value={at} onChange={(e) => setAt(e.target.value)} />
        </label>
      )}
      <button
        type="button"
        className={small}
        disabled={revoke.isPending}
        onClick={() => {
          revoke.reset();
          setConfirmingRevoke(true);
        }}
        data-testid={`revoke-trust-${name}`}
      >
        {revoked ? "Un-revoke" : "Revoke"}
        <span className="sr-only"> {name}</span>
      </button>
      <button type="button" className={`${small} text-rose-800`} disabled={remove.isPending} onClick={ask} data-testid={`delete-trust-${name}`}>
        Delete<span className="sr-only"> {name}</span>
      </button>
      <RevokeTrustDialog
        name={name}
        revoked={revoked}
        at={at}
        open={confirmingRevoke}
        pending={revoke.isPending}
        error={revoke.error?.message ?? null}
        onCancel={() => setConfirmingRevoke(false)}
        onConfirm={() => revoke.mutate()}
      />
      <ConfirmDialog
        open={confirming}
        title={`Delete trust identity ${name}?`}
        confirmLabel="Delete identity"
        pendingLabel="Deleting…"
        ready={Boolean(preview)}
        pending={remove.isPending}
        error={previewError ?? remove.error?.message ?? null}
        onCancel={() => setConfirming(false)}
        onConfirm={() => remove.mutate()}
        testId="confirm-delete-trust"
      >
        {!preview && !previewError && <p>Checking which signatures rest on it…</p>}
        {preview && (
          <>
            <p>
              {preview.role} identity ({preview.kind}).{" "}
              {preview.signatures.length === 0 ? (
                "No verified signature rests on it today."
              ) : (
                <>
                  <strong>{preview.signatures.length}</strong> verified signature{preview.signatures.length === 1 ? "" : "s"} on{" "}
                  <strong>{preview.images}</strong> image{preview.images === 1 ? "" : "s"} stop verifying when the images are checked again (at once for
                  approved images, at the next sync for the rest):
                </>
              )}
            </p>
            {preview.signatures.length > 0 && (
              <ul className="max-h-48 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
                {preview.signatures.map((x) => (
                  <li key={`${x.digest}-${x.layerDigest}`}>
                    {x.role ?? "?"} · {x.registry}/{x.repository}@{x.digest.slice(0, 19)}… ({x.format})
                  </li>
                ))}
              </ul>
            )}
            <p>The deletion is audited; adding the identity again restores the verdicts at the next check.</p>
          </>
        )}
      </ConfirmDialog>
    </div>
  );
}

/** Revoking (or un-revoking) an identity changes verdicts on every signature it vouched for: say how before it happens. */
function RevokeTrustDialog(p: {
  name: string;
  revoked: boolean;
  at: string;
  open: boolean;
  pending: boolean;
  error: string | null;
  onCancel: () => void;
  onConfirm: () => void;
}) {
  const from = p.at ? new Date(p.at) : null;
  const when = from && !Number.isNaN(from.getTime()) ? from.toISOString().replace("T", " ").slice(0, 16) + " UTC" : "now";
  return (
    <ConfirmDialog
      open={p.open}
      title={p.revoked ? `Un-revoke trust identity ${p.name}?` : `Revoke trust identity ${p.name} from ${when}?`}
      confirmLabel={p.revoked ? "Un-revoke identity" : "Revoke identity"}
      pendingLabel="Saving…"
      pending={p.pending}
      error={p.error}
      onCancel={p.onCancel}
      onConfirm={p.onConfirm}
      testId="confirm-revoke-trust"
    >
      {p.revoked ? (
        <p>Its signatures count again, including any made while it was revoked, when the images are checked again. The change is audited.</p>
      ) : (
        <p>
          From {when}, signatures it vouches for stop verifying: every signature whose trusted time (an RFC 3161 timestamp or a transparency-log entry) is at or
          after that moment, and every signature with no trusted time at all, since a claimed time could be backdated. Signatures with a trusted time before it
          stand. Images are checked again at once where approved, at the next sync otherwise. The revocation is audited.
        </p>
      )}
    </ConfirmDialog>
  );
}
