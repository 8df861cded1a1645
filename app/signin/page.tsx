import { safeCallbackPath } from "@/lib/safe-redirect";
import { SignInForm } from "./sign-in-form";

export const dynamic = "force-dynamic";

export default async function SignInPage({ searchParams }: { searchParams: Promise<{ callbackUrl?: string; error?: string }> }) {
  const sp = await searchParams;
  // Only same-origin paths: an open redirect after sign-in would be a phishing aid (see lib/safe-redirect.ts).
  const cb = safeCallbackPath(sp.callbackUrl);
  return (
    <main className="flex min-h-screen items-center justify-center">
      <div className="w-full max-w-sm rounded-lg border border-slate-200 bg-white p-8 shadow-sm">
        <div className="mb-6 flex items-center gap-2">
          <img src="/icon.svg" alt="" className="h-7 w-7" />
          <h1 className="text-xl font-semibold">Sign in to Imprimatur</h1>
        </div>
        <SignInForm callbackUrl={cb} initialError={sp.error === "RateLimited" ? "RateLimited" : sp.error ? "CredentialsSignin" : null} />
      </div>
    </main>
  );
}
