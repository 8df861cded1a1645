"use client";
import { useRouter } from "next/navigation";
import { useRef, useState } from "react";
import { ConfirmDialog, LiveStatus } from "../confirm-dialog";

type Phase =
  | { kind: "idle" }
  | { kind: "uploading"; loaded: number; total: number }
  | { kind: "verifying" }
  | { kind: "done"; text: string }
  | { kind: "error"; text: string };

const kib = (n: number) => (n < 1024 * 1024 ? `${Math.round(n / 1024)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

/**
 * Uploads a scan, SBOM, VEX or attestation for this image from the browser. XHR rather than fetch, because only XHR
 * reports upload progress (upload.onprogress); once the bytes are sent the server parses and verifies the document,
 * which the status says ("verifying…"). Every phase is announced in a polite live region.
 */
export function EvidenceUpload({ uploadUrl }: { uploadUrl: string }) {
  const router = useRouter();
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const input = useRef<HTMLInputElement>(null);
  const busy = phase.kind === "uploading" || phase.kind === "verifying";

  function upload(file: File) {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", uploadUrl);
    const type = /\.jsonl$/i.test(file.name)
      ? "application/jsonl"
      : /\.(json|spdx|cdx)$/i.test(file.name) || file.type.includes("json")
        ? "application/json"
        : "application/octet-stream";
    xhr.setRequestHeader("content-type", type);
    xhr.upload.onprogress = (e) => setPhase({ kind: "uploading", loaded: e.loaded, total: e.lengthComputable ? e.total : file.size });
    // All bytes sent: from here the server is parsing, checking the subject digest and any signature.
    xhr.upload.onload = () => setPhase({ kind: "verifying" });
    xhr.onerror = () => setPhase({ kind: "error", text: "The upload failed: the connection was lost." });
    xhr.onload = () => {
      let body: {
        created?: boolean;
        document?: { format: string; kind: string; signatureStatus: string; findingCount: number; componentCount: number };
        error?: { message: string };
      } | null = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 400 || !body?.document) {
        setPhase({ kind: "error", text: `Upload refused: ${body?.error?.message ?? `HTTP ${xhr.status}`}` });
        return;
      }
      const d = body.document;
      setPhase({
        kind: "done",
        text: `${body.created ? "Stored" : "Already stored"}: ${d.format} ${d.kind}, ${d.componentCount} components, ${d.findingCount} findings, signature ${d.signatureStatus}.`,
      });
      if (input.current) input.current.value = "";
      router.refresh();
    };
    setPhase({ kind: "uploading", loaded: 0, total: file.size });
    xhr.send(file);
  }

  return (
    <div className="space-y-2 rounded-lg border border-slate-200 bg-white p-4" data-testid="evidence-upload">
      <label className="block text-sm font-medium">
        Upload evidence (Trivy or Grype scan, CycloneDX or SPDX SBOM, OpenVEX, in-toto or DSSE attestation)
        <input
          ref={input}
          type="file"
          disabled={busy}
          className="mt-1 block text-sm"
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) upload(f);
          }}
        />
      </label>
      {phase.kind === "uploading" && <progress className="w-full" max={phase.total || 1} value={phase.loaded} aria-label="Upload progress" />}
      <LiveStatus testId="evidence-upload-status" className={phase.kind === "error" ? "text-sm text-rose-800" : "text-sm text-slate-700"}>
        {phase.kind === "uploading"
          ? `Uploading… ${kib(phase.loaded)} of ${kib(phase.total)} (${phase.total ? Math.floor((phase.loaded / phase.total) * 100) : 0}%)`
          : phase.kind === "verifying"
            ? "Uploaded; verifying…"
            : phase.kind === "done" || phase.kind === "error"
              ? phase.text
              : ""}
      </LiveStatus>
    </div>
  );
}

/** An admin withdraws a document: kept and shown, no longer counted by the gates. Asks first, with the reason. */
export function WithdrawEvidenceButton({ id, label, image, approvedStages }: { id: string; label: string; image: string; approvedStages: string[] }) {
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <button
        type="button"
        className="rounded border border-rose-300 px-2 py-0.5 text-xs text-rose-800"
        onClick={() => {
          setError(null);
          setOpen(true);
        }}
        data-testid="withdraw-evidence"
      >
        Withdraw<span className="sr-only"> {label}</span>
      </button>
      <ConfirmDialog
        open={open}
        title={`Withdraw ${label}?`}
        confirmLabel="Withdraw document"
        pendingLabel="Withdrawing…"
        reasonLabel="Reason (required, at least 5 characters)"
        reasonMinLength={5}
        reasonMaxLength={2000}
        pending={pending}
        error={error}
        onCancel={() => setOpen(false)}
        onConfirm={async (reason) => {
          setPending(true);
          setError(null);
          try {
            const res = await fetch(`/api/v1/evidence/${id}/withdraw`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ reason }),
            });
            const b = (await res.json().catch(() => null)) as { error?: { message: string } } | null;
            if (!res.ok) throw new Error(b?.error?.message ?? `HTTP ${res.status}`);
            setOpen(false);
            router.refresh();
          } catch (e) {
            setError((e as Error).message);
          } finally {
            setPending(false);
          }
        }}
      >
        <p>The document is kept and shown as withdrawn, with your reason; the gates stop counting its findings, components and attestations.</p>
        <p>
          Image <span className="break-all font-mono">{image}</span>:
        </p>
        {approvedStages.length > 0 ? (
          <p data-testid="withdraw-affected">
            Its approved stage{approvedStages.length === 1 ? "" : "s"} ({approvedStages.join(", ")}) {approvedStages.length === 1 ? "is" : "are"} judged again
            without this document; a gate that no longer holds is flagged or revoked as the stage&apos;s regression policy says.
          </p>
        ) : (
          <p data-testid="withdraw-affected">No stage of this image is approved: only the next gate evaluation changes.</p>
        )}
        <p>It is audited and cannot be undone; upload the document again to count it again.</p>
      </ConfirmDialog>
    </>
  );
}
