// Class names and the error line shared by the key and trust-identity admin forms.

export const input = "w-full rounded border border-slate-300 px-2 py-1.5 text-sm";
export const button = "rounded bg-slate-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50";
export const small = "rounded border border-slate-300 px-2 py-1 text-xs disabled:opacity-50";

export function ErrorLine({ error }: { error: Error | null }) {
  return error ? (
    <p role="alert" className="text-sm text-rose-700">
      {error.message}
    </p>
  ) : null;
}
