"use client";
import { signIn } from "next-auth/react";
import { useState } from "react";
import { safeCallbackPath } from "@/lib/safe-redirect";

/** What the sign-in page says for next-auth's error codes (the `error` query parameter or signIn's result). */
export function signInErrorMessage(code: string | null | undefined): string | null {
  if (!code) return null;
  if (code === "RateLimited") return "Too many failed sign-ins for this account or from this address. Wait a few minutes, then try again.";
  return "Wrong email or password.";
}

export function SignInForm({ callbackUrl, initialError }: { callbackUrl: string; initialError?: string | null }) {
  const [error, setError] = useState<string | null>(signInErrorMessage(initialError));
  const [busy, setBusy] = useState(false);
  return (
    <form
      className="space-y-4"
      onSubmit={async (e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        setBusy(true);
        setError(null);
        const res = await signIn("credentials", { email: String(f.get("email")), password: String(f.get("password")), redirect: false });
        setBusy(false);
        // Re-checked here too: whatever reaches the browser, only a same-origin path is followed.
        if (res?.ok && !res.error) window.location.assign(safeCallbackPath(callbackUrl));
        else setError(signInErrorMessage(res?.status === 429 ? "RateLimited" : (res?.error ?? "CredentialsSignin")));
      }}
    >
      <label className="block text-sm">
        <span className="text-slate-700">Email</span>
        <input name="email" type="email" autoComplete="username" required className="mt-1 w-full rounded border border-slate-300 px-3 py-2" />
      </label>
      <label className="block text-sm">
        <span className="text-slate-700">Password</span>
        <input name="password" type="password" autoComplete="current-password" required className="mt-1 w-full rounded border border-slate-300 px-3 py-2" />
      </label>
      {error && (
        <p role="alert" className="rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy} className="w-full rounded bg-slate-900 px-3 py-2 font-medium text-white hover:bg-slate-700 disabled:opacity-60">
        {busy ? "Signing in…" : "Sign in"}
      </button>
    </form>
  );
}
