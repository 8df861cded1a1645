import { signInMethods } from "@/lib/server/auth/oidc";
import { safeCallbackPath } from "@/lib/safe-redirect";
import { signInErrorMessage } from "./errors";
import { SignInForm } from "./sign-in-form";

export const dynamic = "force-dynamic";

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; error?: string; password?: string }> }) {
  const sp = await searchParams;
  // Only same-origin paths: an open redirect after sign-in would be a phishing aid (see lib/safe-redirect.ts).
  const cb = safeCallbackPath(sp.callbackUrl);
  const methods = signInMethods();
  const error = signInErrorMessage(typeof sp.error === "string" ? sp.error : undefined);
  // With password sign-in turned off, the form is still reachable for the break-glass admin at /signin?password=1.
  const showPassword = methods.password || sp.password === "1" || !methods.oidc;
  return (
    <main className="flex min-h-screen items-center justify-center">
      <div className="w-full max-w-sm rounded-lg border border-slate-200 bg-white p-8 shadow-sm">
        <div className="mb-6 flex items-center gap-2">
          <img src="/icon.svg" alt="" className="h-7 w-7" />
          <h1 className="text-xl font-semibold">Sign in to Imprimatur</h1>
        </div>
        {error && (
          <p role="alert" data-testid="signin-error" className="mb-4 rounded bg-rose-50 px-3 py-2 text-sm text-rose-700">
            {error}
          </p>
        )}
        <SignInForm callbackUrl={cb} oidcName={methods.oidc?.displayName ?? null} showPassword={showPassword} />
      </div>
    </main>
  );
}
