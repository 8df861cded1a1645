"use client";
import { signIn } from "next-auth/react";
import { useState } from "react";
import { safeCallbackPath } from "@/lib/safe-redirect";
import { signInErrorMessage } from "./errors";

export function SignInForm({ callbackUrl, oidcName = null, showPassword = true }: { callbackUrl: string; oidcName?: string | null; showPassword?: boolean }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const sso = oidcName ? (
    <button
      type="button"
      disabled={busy}
      onClick={() => {
        setBusy(true);
        // next-auth posts its CSRF token and redirects to the provider (state, nonce and PKCE are set as cookies).
        void signIn("oidc", { callbackUrl });
      }}
      className="w-full rounded bg-indigo-700 px-3 py-2 font-medium text-white hover:bg-indigo-600 disabled:opacity-60"
    >
      Sign in with {oidcName}
    </button>
  ) : null;
  if (!showPassword) return sso;
  return (
    <>
      {sso && (
        <div className="mb-4 space-y-4">
          {sso}
          <p className="text-center text-xs text-slate-500">or with a password</p>
        </div>
      )}
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
    </>
  );
}
