import { getToken } from "next-auth/jwt";
import { NextResponse, type NextRequest } from "next/server";
import { contentSecurityPolicy, newNonce, PERMISSIONS_POLICY, servedOverHttps, STRICT_TRANSPORT_SECURITY } from "./lib/security-headers";

// Every page needs a session. API routes answer 401 JSON themselves (they also accept Bearer tokens),
// so they pass through here; next-auth's own routes and the sign-in page are public.
// Every page gets a Content-Security-Policy with a nonce of its own (lib/security-headers.ts): the policy is also set
// on the request, where Next reads the nonce and puts it on the scripts it renders.
export async function proxy(req: NextRequest) {
  const { pathname, search } = req.nextUrl;
  if (pathname.startsWith("/api/")) return NextResponse.next();
  if (pathname !== "/signin") {
    const token = await getToken({ req, secret: process.env.NEXTAUTH_SECRET });
    if (!token?.sub) {
      const url = req.nextUrl.clone();
      url.pathname = "/signin";
      url.search = `?callbackUrl=${encodeURIComponent(pathname + search)}`;
      return NextResponse.redirect(url);
    }
  }
  const https = servedOverHttps(req.nextUrl.protocol, process.env.NEXTAUTH_URL);
  const nonce = newNonce();
  const csp = contentSecurityPolicy(nonce, { dev: process.env.NODE_ENV === "development", https });
  const requestHeaders = new Headers(req.headers);
  requestHeaders.set("x-nonce", nonce);
  requestHeaders.set("content-security-policy", csp);
  const res = NextResponse.next({ request: { headers: requestHeaders } });
  res.headers.set("content-security-policy", csp);
  res.headers.set("permissions-policy", PERMISSIONS_POLICY);
  if (https) res.headers.set("strict-transport-security", STRICT_TRANSPORT_SECURITY);
  return res;
}

// /api/ is left out of the matcher: a request the proxy sees has its body buffered (and cut off at 10 MiB), so an
// evidence upload up to EVIDENCE_MAX_BYTES must never pass through it. API routes authenticate themselves.
export const config = {
  matcher: ["/((?!api/|_next/static|_next/image|favicon.ico|icon.svg).*)"],
};
