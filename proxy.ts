import { getToken } from "next-auth/jwt";
import { NextResponse, type NextRequest } from "next/server";

// Every page needs a session. API routes answer 401 JSON themselves (they also accept Bearer tokens),
// so they pass through here; next-auth's own routes and the sign-in page are public.
export async function proxy(req: NextRequest) {
  const { pathname, search } = req.nextUrl;
  if (pathname.startsWith("/api/") || pathname === "/signin") return NextResponse.next();
  const token = await getToken({ req, secret: process.env.NEXTAUTH_SECRET });
  if (token?.sub) return NextResponse.next();
  const url = req.nextUrl.clone();
  url.pathname = "/signin";
  url.search = `?callbackUrl=${encodeURIComponent(pathname + search)}`;
  return NextResponse.redirect(url);
}

// /api/ is left out of the matcher: a request the proxy sees has its body buffered (and cut off at 10 MiB), so an
// evidence upload up to EVIDENCE_MAX_BYTES must never pass through it. API routes authenticate themselves.
export const config = {
  matcher: ["/((?!api/|_next/static|_next/image|favicon.ico|icon.svg).*)"],
};
