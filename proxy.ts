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

export const config = {
  matcher: ["/((?!_next/static|_next/image|favicon.ico|icon.svg).*)"],
};
