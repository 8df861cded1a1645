import NextAuth from "next-auth";
import { NextRequest, NextResponse } from "next/server";
import { authOptions } from "@/lib/auth";
import { AppError } from "@/lib/errors";
import { clientAddress } from "@/lib/server/auth/client-address";
import { checkSigninThrottle } from "@/lib/server/auth/signin-throttle";
import { readBodyCapped } from "@/lib/server/http/read-body";

const handler = NextAuth(authOptions);
type Ctx = { params: Promise<{ nextauth: string[] }> };

/** next-auth's forms (sign-in, sign-out, callbacks) are a few hundred bytes; a CSRF token and a callback URL at most. */
const AUTH_BODY_MAX = 64 * 1024;

/**
 * next-auth's routes. Every POST body is read here first, capped at 64 KiB (413 past it), and next-auth gets a request
 * rebuilt from those bytes: next-auth itself reads whatever body it is given, and nothing in front of /api/ caps it, so
 * an anonymous sign-out with a 256 MiB body was held in memory whole. Reading once (no clone) also means no tee'd
 * stream whose cancel can hang.
 *
 * Sign-in throttling around the credentials callback: next-auth's `authorize` cannot set a status, so a throttled
 * attempt is answered here with 429 and Retry-After, both before next-auth runs (when the account or address is
 * already over its limit) and after it (when the attempt itself crossed the limit). The body keeps next-auth's
 * `{ url }` shape with `error=RateLimited`, so the sign-in form shows what happened.
 */
async function POST(req: NextRequest, ctx: Ctx) {
  let bytes: Buffer;
  try {
    bytes = await readBodyCapped(req, AUTH_BODY_MAX);
  } catch {
    return NextResponse.json(new AppError("PAYLOAD_TOO_LARGE", "request body over 64 KiB").toJSON(), { status: 413 });
  }
  const capped = new NextRequest(req.url, { method: req.method, headers: req.headers, body: req.body ? new Uint8Array(bytes) : null });
  if (!req.nextUrl.pathname.endsWith("/callback/credentials")) return handler(capped, ctx);
  const source = clientAddress(req.headers);
  const email = new URLSearchParams(bytes.toString("utf8")).get("email") ?? "";
  const before = await checkSigninThrottle({ email, source });
  if (before.blocked) return throttled(req, before.retryAfterSeconds, before.reason);
  const res: Response = await handler(capped, ctx);
  if (await saysRateLimited(res)) {
    const after = await checkSigninThrottle({ email, source });
    return throttled(req, after.blocked ? after.retryAfterSeconds : 60, after.blocked ? after.reason : "too many sign-in attempts");
  }
  return res;
}

function throttled(req: NextRequest, retryAfterSeconds: number, message: string): Response {
  const url = new URL("/signin?error=RateLimited", req.nextUrl.origin).toString();
  return NextResponse.json(
    { url, error: { code: "RATE_LIMITED", message } },
    { status: 429, headers: { "retry-after": String(retryAfterSeconds), "cache-control": "no-store" } },
  );
}

/** Whether next-auth's answer (a JSON `{ url }` or a redirect) carries error=RateLimited from `authorize`. */
async function saysRateLimited(res: Response): Promise<boolean> {
  const location = res.headers.get("location");
  if (location) return /[?&]error=RateLimited(?:&|$)/.test(location);
  if (!(res.headers.get("content-type") ?? "").includes("json")) return false;
  const body = (await res
    .clone()
    .json()
    .catch(() => null)) as { url?: unknown } | null;
  return typeof body?.url === "string" && /[?&]error=RateLimited(?:&|$)/.test(body.url);
}

export { handler as GET, POST };
