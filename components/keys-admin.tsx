"use client";
import { useMutation } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { ErrorLine, button, input, small } from "./admin-form";
import { api } from "./api";
import { ConfirmDialog, LiveStatus } from "./confirm-dialog";

interface StageKeyPreview {
  stage: string;
  retiring: { name: string; fingerprint: string; backend: string; notBefore: string } | null;
  images: { registry: string; repository: string; digest: string; approvalId: string; signedAt: string | null }[];
  pending: number;
}

function KeyChangeSummary({ preview, verb }: { preview: StageKeyPreview; verb: string }) {
  if (!preview.retiring)
    return (
      <p>
        Stage {preview.stage} has no current key: the {verb === "import" ? "imported" : "new"} key becomes its first.
      </p>
    );
  return (
    <>
      <p>
        Key <span className="font-mono">{preview.retiring.name}</span> (<span className="font-mono">{preview.retiring.fingerprint.slice(0, 23)}…</span>) is
        retired now; new {preview.stage} approvals are signed with the {verb === "import" ? "imported" : "new"} key.
      </p>
      {preview.images.length === 0 ? (
        <p>No image holds a {preview.stage} signature made with it.</p>
      ) : (
        <>
          <p>
            <strong>{preview.images.length}</strong> image{preview.images.length === 1 ? "" : "s"} keep their {preview.stage} signature by the retired key:
            Imprimatur keeps verifying {preview.images.length === 1 ? "it" : "them"}, but a verifier that pins only the new public key (cosign verify --key)
            stops accepting {preview.images.length === 1 ? "it" : "them"} until {preview.images.length === 1 ? "it is" : "they are"} promoted again:
          </p>
          <ul className="max-h-48 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
            {preview.images.map((i) => (
              <li key={i.approvalId}>
                {i.registry}/{i.repository}@{i.digest.slice(0, 19)}…
              </li>
            ))}
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
        <label className="text-xs">
          Backend of the new key
          <select className={input} value={nextBackend} onChange={(e) => setNextBackend(e.target.value)} aria-label={`backend for ${stage}`}>
            <option value="software">software (sealed under the master key)</option>
            <option value="pkcs11">PKCS#11 token</option>
          </select>
        </label>
        <button type="button" className={button} disabled={rotate.isPending} onClick={() => ask("rotate")}>
          Rotate key of {stage}
        </button>
      </div>
      <form
        className="space-y-1"
        onSubmit={(e) => {
          e.preventDefault();
          ask("import");
        }}
        aria-label={`Import a key for ${stage}`}
      >
        <label className="block text-xs">
          Encrypted cosign private key (cosign.key)
          <textarea className={`${input} h-20 font-mono text-xs`} value={pem} onChange={(e) => setPem(e.target.value)} required />
        </label>
        <label className="block text-xs">
          Password
          <input type="password" className={input} value={password} onChange={(e) => setPassword(e.target.value)} autoComplete="off" />
        </label>
        <button className={button} disabled={imp.isPending}>
          Import as {stage}&apos;s key
        </button>
      </form>
      <LiveStatus testId={`key-status-${stage}`} className="text-sm text-slate-800 sm:col-span-2">
        {status}
      </LiveStatus>
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
  approvals: {
    approvalId: string;
    stage: string;
    repository: string;
    digest: string;
    trustedAt: string;
    trustedBy: "tsa" | "record";
    alreadyRevoked: boolean;
  }[];
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
      <form
        className="mt-2 space-y-2"
        onSubmit={(e) => {
          e.preventDefault();
          setDone(null);
          dry.mutate();
        }}
      >
        <label className="block text-xs">
          Compromised from (UTC)
          <input
            type="datetime-local"
            step="1"
            className={input}
            value={effectiveAt}
            onChange={(e) => {
              setEffectiveAt(e.target.value);
              setPreview(null);
            }}
            required
            name="effectiveAt"
          />
        </label>
        <label className="block text-xs">
          Reason
          <input
            className={input}
            value={reason}
            onChange={(e) => {
              setReason(e.target.value);
              setPreview(null);
            }}
            required
            minLength={3}
            maxLength={1000}
            name="reason"
          />
        </label>
        <button className={small} disabled={dry.isPending}>
          {dry.isPending ? "Checking…" : "Preview what changes (dry run)"}
        </button>
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
              Key <span className="font-mono">{preview.key.name}</span> revoked from {preview.effectiveAt} for: {reason}. <strong>{changing.length}</strong>{" "}
              approval{changing.length === 1 ? "" : "s"} on <strong>{preview.images.length}</strong> image{preview.images.length === 1 ? "" : "s"} would be
              revoked (verify and ImageReview deny the stage, the signature layers leave the registry); {preview.unaffected} signed before stay valid. A
              replacement key is generated. Nothing has changed yet.
            </p>
            <ul className="max-h-60 list-disc overflow-y-auto pl-5 font-mono text-xs" data-testid="affected">
              {preview.approvals.map((a) => (
                <li key={a.approvalId}>
                  {a.alreadyRevoked ? "(already revoked) " : ""}
                  {a.stage} · {a.repository}@{a.digest.slice(0, 19)}… · signed {a.trustedAt} ({a.trustedBy === "tsa" ? "TSA" : "Imprimatur's record"})
                </li>
              ))}
            </ul>
          </>
        )}
      </ConfirmDialog>
      {done && (
        <p className="mt-2 text-sm text-emerald-800" role="status" aria-live="polite">
          Revoked {done.key.name} from {done.effectiveAt}; {done.approvals.filter((a) => !a.alreadyRevoked).length} approval(s) revoked
          {done.replacement ? `; replacement key ${done.replacement.name}` : ""}
          {done.pendingInRegistry?.length ? `; ${done.pendingInRegistry.length} registry removal(s) pending, retried` : ""}.
        </p>
      )}
    </details>
  );
}
