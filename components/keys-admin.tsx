"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { api } from "./api";
import { ConfirmDialog, LiveStatus } from "./confirm-dialog";

const input = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";
const button = "rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50";
const small = "rounded border border-slate-300 px-2 py-1 text-xs disabled:opacity-50";

function ErrorLine({ error }: { error: Error | null }) {
  return error ? <p role="alert" className="text-sm text-rose-700">{error.message}</p> : null;
}

async function readFile(f: File | undefined | null): Promise<string | null> {
  return f ? f.text() : null;
}

/** Add a trust identity of any kind: key (cosign.pub), certificate roots, Sigstore trusted_root.json, TSA roots. */
export function AddTrustIdentityForm() {
  const router = useRouter();
  const [f, setF] = useState({ name: "", kind: "key", role: "publisher", scope: "**", material: "", subject: "", san: "", oidcIssuer: "", anyIdentity: false, validFrom: "", validUntil: "" });
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
          scope: f.scope.split(/[\s,]+/).filter(Boolean),
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
    <form className="space-y-2 rounded-lg border border-slate-200 bg-white p-4" onSubmit={(e) => { e.preventDefault(); save.mutate(); }} aria-label="Add trust identity">
      <h3 className="font-medium">Add a trust identity</h3>
      <div className="grid gap-2 sm:grid-cols-4">
        <label className="text-xs">Name<input className={input} value={f.name} onChange={set("name")} required /></label>
        <label className="text-xs">Kind
          <select className={input} value={f.kind} onChange={set("kind")} name="kind">
            <option value="key">key (cosign.pub)</option>
            <option value="certificate">certificate root</option>
            <option value="sigstore">Sigstore trusted_root.json</option>
            <option value="tsa">timestamp authority</option>
          </select>
        </label>
        <label className="text-xs">Role
          <select className={input} value={f.role} onChange={set("role")} name="role">
            <option value="publisher">publisher</option>
            <option value="team">team</option>
            <option value="stage">stage</option>
            <option value="builder">builder (signs provenance)</option>
            <option value="scanner">scanner (signs scans, SBOMs, VEX)</option>
          </select>
        </label>
        <label className="text-xs">Scope (repository patterns)<input className={input} value={f.scope} onChange={set("scope")} placeholder="library/* apps/**" /></label>
      </div>
      <label className="block text-xs">
        {f.kind === "key" ? "Public key (PEM)" : f.kind === "sigstore" ? "trusted_root.json" : "Certificates (PEM, root and intermediates)"}
        <textarea className={`${input} h-28 font-mono text-xs`} value={f.material} onChange={set("material")} required />
      </label>
      <label className="block text-xs">…or upload a file <input type="file" onChange={async (e) => setF({ ...f, material: (await readFile(e.target.files?.[0])) ?? f.material })} /></label>
      {(f.kind === "certificate" || f.kind === "sigstore") && (
        <>
          <div className="grid gap-2 sm:grid-cols-3">
            <label className="text-xs">Subject (exact or *)<input className={input} value={f.subject} onChange={set("subject")} placeholder="CN=release, O=Acme" /></label>
            <label className="text-xs">or SAN (pattern)<input className={input} value={f.san} onChange={set("san")} placeholder="https://github.com/acme/*" /></label>
            <label className="text-xs">with OIDC issuer{f.kind === "sigstore" ? " (required with a SAN)" : ""}<input className={input} value={f.oidcIssuer} onChange={set("oidcIssuer")} placeholder="https://token.actions.githubusercontent.com" /></label>
          </div>
          <label className="flex items-start gap-2 text-xs">
            <input type="checkbox" name="anyIdentityUnderRoot" checked={f.anyIdentity} onChange={(e) => setF({ ...f, anyIdentity: e.target.checked })} />
            <span>Any identity under this root (no subject or SAN)</span>
          </label>
          {f.anyIdentity && (
            <p role="note" data-testid="any-identity-warning" className="rounded bg-amber-50 px-3 py-2 text-xs text-amber-800">
              Every certificate issued under this root will be trusted as {f.role} for the scope above.
              {f.kind === "sigstore" ? " With the public Sigstore root that is anyone with an e-mail or CI account." : " Use this only for a private CA that issues to this signer alone."}
            </p>
          )}
        </>
      )}
      <div className="grid gap-2 sm:grid-cols-2">
        <label className="text-xs">Valid from (optional)<input type="datetime-local" className={input} value={f.validFrom} onChange={set("validFrom")} /></label>
        <label className="text-xs">Valid until (optional)<input type="datetime-local" className={input} value={f.validUntil} onChange={set("validUntil")} /></label>
      </div>
      <ErrorLine error={save.error} />
      <button className={button} disabled={save.isPending}>Add identity</button>
    </form>
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
  const [preview, setPreview] = useState<TrustDeletionPreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const revoke = useMutation({
    mutationFn: () => api(`/api/v1/trust/${encodeURIComponent(name)}`, { method: "PATCH", body: JSON.stringify({ revokedAt: revoked ? null : at ? new Date(at).toISOString() : new Date().toISOString() }) }),
    onSuccess: () => router.refresh(),
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
      {!revoked && <label className="text-xs">revoke from <input type="datetime-local" className="rounded border border-slate-400 px-1 text-xs" value={at} onChange={(e) => setAt(e.target.value)} /></label>}
      <button type="button" className={small} disabled={revoke.isPending} onClick={() => revoke.mutate()}>{revoked ? "Un-revoke" : "Revoke"}<span className="sr-only"> {name}</span></button>
      <button type="button" className={`${small} text-rose-800`} disabled={remove.isPending} onClick={ask} data-testid={`delete-trust-${name}`}>Delete<span className="sr-only"> {name}</span></button>
      <ErrorLine error={revoke.error} />
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
              {preview.role} identity ({preview.kind}). {preview.signatures.length === 0 ? "No verified signature rests on it today." : (
                <><strong>{preview.signatures.length}</strong> verified signature{preview.signatures.length === 1 ? "" : "s"} on <strong>{preview.images}</strong> image{preview.images === 1 ? "" : "s"} stop verifying when the images are checked again (at once for approved images, at the next sync for the rest):</>
              )}
            </p>
            {preview.signatures.length > 0 && (
              <ul className="max-h-48 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
                {preview.signatures.map((x) => <li key={`${x.digest}-${x.layerDigest}`}>{x.role ?? "?"} · {x.registry}/{x.repository}@{x.digest.slice(0, 19)}… ({x.format})</li>)}
              </ul>
            )}
            <p>The deletion is audited; adding the identity again restores the verdicts at the next check.</p>
          </>
        )}
      </ConfirmDialog>
    </div>
  );
}

interface StageKeyPreview {
  stage: string;
  retiring: { name: string; fingerprint: string; backend: string; notBefore: string } | null;
  images: { registry: string; repository: string; digest: string; approvalId: string; signedAt: string | null }[];
  pending: number;
}

function KeyChangeSummary({ preview, verb }: { preview: StageKeyPreview; verb: string }) {
  if (!preview.retiring) return <p>Stage {preview.stage} has no current key: the {verb === "import" ? "imported" : "new"} key becomes its first.</p>;
  return (
    <>
      <p>
        Key <span className="font-mono">{preview.retiring.name}</span> (<span className="font-mono">{preview.retiring.fingerprint.slice(0, 23)}…</span>) is retired now; new {preview.stage} approvals are signed with the {verb === "import" ? "imported" : "new"} key.
      </p>
      {preview.images.length === 0 ? (
        <p>No image holds a {preview.stage} signature made with it.</p>
      ) : (
        <>
          <p>
            <strong>{preview.images.length}</strong> image{preview.images.length === 1 ? "" : "s"} keep their {preview.stage} signature by the retired key: Imprimatur keeps verifying {preview.images.length === 1 ? "it" : "them"}, but a verifier that pins only the new public key (cosign verify --key) stops accepting {preview.images.length === 1 ? "it" : "them"} until {preview.images.length === 1 ? "it is" : "they are"} promoted again:
          </p>
          <ul className="max-h-48 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
            {preview.images.map((i) => <li key={i.approvalId}>{i.registry}/{i.repository}@{i.digest.slice(0, 19)}…</li>)}
          </ul>
        </>
      )}
      {preview.pending > 0 && <p>{preview.pending} approval(s) still being pushed finish with the retired key.</p>}
    </>
  );
}

/**
 * Rotate a stage's key (optionally switching backend) or import an encrypted cosign key as its current key. Both ask
 * first, with the server's list of images whose stage signature was made by the key being retired, and then report
 * pending → done with the new key's name and fingerprint in a live region.
 */
export function StageKeyActions({ stage, backend }: { stage: string; backend: string }) {
  const router = useRouter();
  const [nextBackend, setNextBackend] = useState(backend);
  const [pem, setPem] = useState("");
  const [password, setPassword] = useState("");
  const [asking, setAsking] = useState<"rotate" | "import" | null>(null);
  const [preview, setPreview] = useState<StageKeyPreview | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  type Made = { key: { name: string; fingerprint: string } };
  const done = (verb: string) => (r: Made) => {
    setAsking(null);
    setStatus(`Done: ${verb}; stage ${stage} now signs with ${r.key.name} (${r.key.fingerprint.slice(0, 23)}…).`);
    router.refresh();
  };
  const rotate = useMutation({
    mutationFn: () => api<Made>(`/api/v1/keys/stages/${encodeURIComponent(stage)}/rotate`, { method: "POST", body: JSON.stringify({ backend: nextBackend }) }),
    onMutate: () => setStatus(`Rotating the key of ${stage}: generating the new key…`),
    onSuccess: done("rotated"),
    onError: () => setStatus(""),
  });
  const imp = useMutation({
    mutationFn: () => api<Made>(`/api/v1/keys/stages/${encodeURIComponent(stage)}/import`, { method: "POST", body: JSON.stringify({ pem, password }) }),
    onMutate: () => setStatus(`Importing the key for ${stage}: decrypting and checking it…`),
    onSuccess: (r) => {
      setPem("");
      setPassword("");
      done("imported")(r);
    },
    onError: () => setStatus(""),
  });
  function ask(what: "rotate" | "import") {
    setPreview(null);
    setPreviewError(null);
    rotate.reset();
    imp.reset();
    setAsking(what);
    api<StageKeyPreview>(`/api/v1/keys/stages/${encodeURIComponent(stage)}/preview`).then(setPreview, (e: Error) => setPreviewError(e.message));
  }
  const m = asking === "import" ? imp : rotate;
  return (
    <div className="mt-3 grid gap-3 sm:grid-cols-2">
      <div className="space-y-1">
        <label className="text-xs">Backend of the new key
          <select className={input} value={nextBackend} onChange={(e) => setNextBackend(e.target.value)} aria-label={`backend for ${stage}`}>
            <option value="software">software (sealed under the master key)</option>
            <option value="pkcs11">PKCS#11 token</option>
          </select>
        </label>
        <button type="button" className={button} disabled={rotate.isPending} onClick={() => ask("rotate")}>Rotate key of {stage}</button>
      </div>
      <form className="space-y-1" onSubmit={(e) => { e.preventDefault(); ask("import"); }} aria-label={`Import a key for ${stage}`}>
        <label className="block text-xs">Encrypted cosign private key (cosign.key)
          <textarea className={`${input} h-20 font-mono text-xs`} value={pem} onChange={(e) => setPem(e.target.value)} required />
        </label>
        <label className="block text-xs">Password<input type="password" className={input} value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="off" /></label>
        <button className={button} disabled={imp.isPending}>Import as {stage}&apos;s key</button>
      </form>
      <LiveStatus testId={`key-status-${stage}`} className="text-sm text-slate-800 sm:col-span-2">{status}</LiveStatus>
      <ConfirmDialog
        open={asking !== null}
        title={asking === "import" ? `Import a key as ${stage}'s signing key?` : `Rotate the key of stage ${stage}?`}
        confirmLabel={asking === "import" ? "Import key" : "Rotate key"}
        pendingLabel={asking === "import" ? "Importing…" : "Rotating…"}
        ready={Boolean(preview)}
        pending={m.isPending}
        error={previewError ?? m.error?.message ?? null}
        onCancel={() => setAsking(null)}
        onConfirm={() => m.mutate()}
        testId="confirm-key-change"
      >
        {!preview && !previewError && <p>Checking which images hold a signature by the current key…</p>}
        {preview && <KeyChangeSummary preview={preview} verb={asking ?? "rotate"} />}
        {asking === "rotate" && <p>The new key is kept in: {nextBackend === "pkcs11" ? "the PKCS#11 token" : "the database, sealed under the master key"}.</p>}
      </ConfirmDialog>
    </div>
  );
}

interface KeyRevocationPreview {
  dryRun: boolean;
  key: { name: string; fingerprint: string };
  effectiveAt: string;
  approvals: { approvalId: string; stage: string; repository: string; digest: string; trustedAt: string; trustedBy: "tsa" | "record"; alreadyRevoked: boolean }[];
  images: { repository: string; digest: string; approvals: number }[];
  unaffected: number;
  replacement: { name: string; fingerprint: string } | null;
  pendingInRegistry?: string[];
}

/**
 * A stage key is compromised: preview (dry run) exactly which approvals and images change, then confirm. The
 * effective time can only move earlier; approvals whose trusted time is earlier stay valid; a replacement key is made.
 */
export function RevokeStageKeyForm({ stage }: { stage: string }) {
  const router = useRouter();
  const [effectiveAt, setEffectiveAt] = useState("");
  const [reason, setReason] = useState("");
  const [preview, setPreview] = useState<KeyRevocationPreview | null>(null);
  const [done, setDone] = useState<KeyRevocationPreview | null>(null);
  const body = (dryRun: boolean) => JSON.stringify({ effectiveAt: effectiveAt ? new Date(`${effectiveAt}Z`).toISOString() : "", reason, dryRun });
  const dry = useMutation({
    mutationFn: () => api<KeyRevocationPreview>(`/api/v1/keys/stages/${encodeURIComponent(stage)}/revoke`, { method: "POST", body: body(true) }),
    onSuccess: (r) => setPreview(r),
  });
  const run = useMutation({
    mutationFn: () => api<KeyRevocationPreview>(`/api/v1/keys/stages/${encodeURIComponent(stage)}/revoke`, { method: "POST", body: body(false) }),
    onSuccess: (r) => {
      setPreview(null);
      setDone(r);
      router.refresh();
    },
  });
  const changing = preview?.approvals.filter((a) => !a.alreadyRevoked) ?? [];
  return (
    <details className="mt-3 rounded border border-rose-200 p-3" data-testid={`revoke-key-${stage}`}>
      <summary className="cursor-pointer text-sm font-medium text-rose-800">Key compromised: revoke {stage}&apos;s key from a time</summary>
      <form className="mt-2 space-y-2" onSubmit={(e) => { e.preventDefault(); setDone(null); dry.mutate(); }}>
        <label className="block text-xs">Compromised from (UTC)
          <input type="datetime-local" step="1" className={input} value={effectiveAt} onChange={(e) => { setEffectiveAt(e.target.value); setPreview(null); }} required name="effectiveAt" />
        </label>
        <label className="block text-xs">Reason
          <input className={input} value={reason} onChange={(e) => { setReason(e.target.value); setPreview(null); }} required minLength={3} maxLength={1000} name="reason" />
        </label>
        <button className={small} disabled={dry.isPending}>{dry.isPending ? "Checking…" : "Preview what changes (dry run)"}</button>
        <ErrorLine error={dry.error} />
      </form>
      <ConfirmDialog
        open={Boolean(preview)}
        title={`Revoke ${stage}'s key as compromised?`}
        confirmLabel={`Revoke the key and ${changing.length} approval${changing.length === 1 ? "" : "s"}`}
        pendingLabel="Revoking…"
        pending={run.isPending}
        error={run.error?.message ?? null}
        onCancel={() => setPreview(null)}
        onConfirm={() => run.mutate()}
        testId="key-revoke-preview"
      >
        {preview && (
          <>
            <p>
              Key <span className="font-mono">{preview.key.name}</span> revoked from {preview.effectiveAt} for: {reason}. <strong>{changing.length}</strong> approval{changing.length === 1 ? "" : "s"} on{" "}
              <strong>{preview.images.length}</strong> image{preview.images.length === 1 ? "" : "s"} would be revoked (verify and ImageReview deny the stage, the signature layers leave the registry); {preview.unaffected} signed before stay valid. A replacement key is generated. Nothing has changed yet.
            </p>
            <ul className="max-h-60 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
              {preview.approvals.map((a) => (
                <li key={a.approvalId}>{a.alreadyRevoked ? "(already revoked) " : ""}{a.stage} · {a.repository}@{a.digest.slice(0, 19)}… · signed {a.trustedAt} ({a.trustedBy === "tsa" ? "TSA" : "Imprimatur's record"})</li>
              ))}
            </ul>
          </>
        )}
      </ConfirmDialog>
      {done && (
        <p className="mt-2 text-sm text-emerald-800" role="status" aria-live="polite">
          Revoked {done.key.name} from {done.effectiveAt}; {done.approvals.filter((a) => !a.alreadyRevoked).length} approval(s) revoked
          {done.replacement ? `; replacement key ${done.replacement.name}` : ""}{done.pendingInRegistry?.length ? `; ${done.pendingInRegistry.length} registry removal(s) pending, retried` : ""}.
        </p>
      )}
    </details>
  );
}
