// Where a browser may be sent after signing in. Pure (no Next, no server-only): the sign-in page, its form and the
// next-auth redirect callback all use it.

const BASE = "http://imprimatur.invalid";

/**
 * A same-origin path (with query and fragment) to follow, or `fallback`. Browsers read `/\evil.example` as
 * `//evil.example` and drop tabs and newlines from URLs (`/%09/evil.example` becomes `//evil.example`), so a
 * "starts with / but not //" test is not enough: backslashes and control characters are refused outright, and the
 * rest is resolved the way a browser would and must stay on our origin.
 */
export function safeCallbackPath(value: unknown, fallback = "/images"): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 2048) return fallback;

  if (/[\u0000-\u001f\u007f\\]/.test(value)) return fallback;
  if (!value.startsWith("/") || value.startsWith("//")) return fallback;
  let u: URL;
  try {
    u = new URL(value, BASE);
  } catch {
    return fallback;
  }
  if (u.origin !== BASE) return fallback;
  const path = u.pathname + u.search + u.hash;
  return path.startsWith("//") ? fallback : path;
}

/**
 * next-auth's `redirect` callback: a relative path or an absolute URL on `baseUrl`'s origin, made safe as above;
 * anything else goes to the base URL.
 */
export function safeRedirectUrl(url: string, baseUrl: string): string {
  const base = new URL(baseUrl);
  if (url.startsWith("/")) return `${base.origin}${safeCallbackPath(url, "/")}`;
  try {
    const u = new URL(url);

    if (u.origin === base.origin && !/[\u0000-\u001f\u007f\\]/.test(url)) return `${base.origin}${safeCallbackPath(u.pathname + u.search + u.hash, "/")}`;
  } catch {
    // not a URL: fall through
  }
  return base.origin + "/";
}
