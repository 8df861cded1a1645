"use client";
import { useEffect, useId, useRef, useState, type ReactNode } from "react";

export interface ConfirmDialogProps {
  /** Whether the dialog is shown; the caller owns this so it can open it from any button. */
  open: boolean;
  /** The question, e.g. "Rotate the key of stage prod?" — it names the dialog for assistive technology. */
  title: string;
  /** What will change, as the server computed it (images, stages, signatures). */
  children: ReactNode;
  /** The confirm button's text: a verb phrase that says what happens ("Rotate key", "Revoke approval"). */
  confirmLabel: string;
  /** Shown on the confirm button while `pending`. */
  pendingLabel?: string;
  /** When set, a reason is asked for and recorded; the confirm button stays disabled until it has `reasonMinLength` characters. */
  reasonLabel?: string;
  reasonMinLength?: number;
  reasonMaxLength?: number;
  /** Extra fields (a password, a backend) rendered above the buttons. */
  fields?: ReactNode;
  /** False while the server's preview is still loading or has failed: nothing can be confirmed blind. */
  ready?: boolean;
  pending?: boolean;
  error?: string | null;
  onConfirm: (reason: string) => void;
  onCancel: () => void;
  testId?: string;
}

/**
 * One confirmation dialog for every dangerous action. It is the browser's modal <dialog> (showModal): the rest of the
 * page is inert, so focus stays inside; Esc cancels; the title labels it and the description describes it. Focus
 * starts on Cancel (or on the reason field), never on the destructive button, and goes back to the opener on close.
 */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  pendingLabel,
  reasonLabel,
  reasonMinLength = 3,
  reasonMaxLength = 1000,
  fields,
  ready = true,
  pending = false,
  error,
  onConfirm,
  onCancel,
  testId,
}: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const opener = useRef<Element | null>(null);
  const [reason, setReason] = useState("");
  const id = useId();

  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      opener.current = document.activeElement;
      setReason("");
      d.showModal();
      (reasonRef.current ?? cancelRef.current)?.focus();
    } else if (!open && d.open) {
      d.close();
      if (opener.current instanceof HTMLElement && opener.current.isConnected) opener.current.focus();
    }
  }, [open]);

  const reasonOk = !reasonLabel || reason.trim().length >= reasonMinLength;
  return (
    <dialog
      ref={ref}
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-desc`}
      data-testid={testId}
      // Esc fires "cancel": the caller closes it (and nothing is sent). While a request runs, Esc cannot abandon it.
      onCancel={(e) => {
        e.preventDefault();
        if (!pending) onCancel();
      }}
      // Chrome lets a second Esc close a modal even when "cancel" was prevented: keep the caller's state in step.
      onClose={() => {
        if (open) onCancel();
      }}
      className="w-full max-w-lg rounded-lg bg-white p-0 text-slate-900 shadow-xl backdrop:bg-slate-900/50"
    >
      {open && (
        <form
          method="dialog"
          className="space-y-3 p-5"
          onSubmit={(e) => {
            e.preventDefault();
            if (ready && reasonOk && !pending) onConfirm(reason.trim());
          }}
        >
          <h2 id={`${id}-title`} className="text-lg font-semibold">
            {title}
          </h2>
          <div id={`${id}-desc`} className="space-y-2 text-sm text-slate-700">
            {children}
          </div>
          {reasonLabel && (
            <label className="block text-sm">
              <span className="text-slate-700">{reasonLabel}</span>
              <textarea
                ref={reasonRef}
                name="reason"
                required
                minLength={reasonMinLength}
                maxLength={reasonMaxLength}
                value={reason}
                onChange={(e) => setReason(e.target.value)}
                rows={3}
                className="mt-1 w-full rounded border border-slate-400 px-2 py-1.5 text-sm"
              />
            </label>
          )}
          {fields}
          <div role="alert" aria-live="assertive" className={error ? "rounded bg-rose-50 px-3 py-2 text-sm text-rose-800" : "sr-only"}>
            {error ?? ""}
          </div>
          <div className="flex gap-2">
            <button
              type="submit"
              disabled={!ready || !reasonOk || pending}
              className="rounded bg-rose-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-rose-800 disabled:opacity-60"
            >
              {pending ? (pendingLabel ?? "Working…") : confirmLabel}
            </button>
            <button ref={cancelRef} type="button" disabled={pending} onClick={onCancel} className="rounded border border-slate-400 px-3 py-1.5 text-sm">
              Cancel
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}

/** A polite live region: progress and outcomes that a screen reader announces without moving focus. */
export function LiveStatus({ children, testId, className }: { children: ReactNode; testId?: string; className?: string }) {
  return (
    <p role="status" aria-live="polite" data-testid={testId} className={className}>
      {children}
    </p>
  );
}
