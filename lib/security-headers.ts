// Response headers for pages. Pure (no Next): proxy.ts sets them per request, unit tests read them.

/** A fresh CSP nonce: 128 random bits, base64. */
export function newNonce(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return btoa(String.fromCharCode(...bytes));
}

/**
 * The Content-Security-Policy for a page. Scripts run only with this response's nonce (Next adds it to its own
 * scripts when it finds the policy on the request) or when loaded by such a script ('strict-dynamic'); there is no
 * 'unsafe-inline' for scripts, so markup planted in annotations, SBOM fields or comments cannot run even if it were
 * ever rendered unescaped. Styles keep 'unsafe-inline' (React renders `style` attributes); a style cannot run code.
 * `next dev` needs eval for its fast refresh; production never gets it.
 */
export function contentSecurityPolicy(nonce: string, opts: { dev?: boolean; https?: boolean } = {}): string {
  return [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}' 'strict-dynamic'${opts.dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    ...(opts.https ? ["upgrade-insecure-requests"] : []),
  ].join("; ");
}

/** Browser features no page of Imprimatur uses. */
export const PERMISSIONS_POLICY =
  "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), hid=(), midi=(), display-capture=(), interest-cohort=()";

/** One year, subdomains included; sent only on responses served over https (browsers ignore it over http anyway). */
export const STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains";

/**
 * Whether the page is served over https: the URL Next saw, or the configured public origin (NEXTAUTH_URL) when a
 * TLS-terminating proxy speaks http to us. A client's own X-Forwarded-Proto is not believed.
 */
export function servedOverHttps(requestProtocol: string, publicUrl: string | undefined): boolean {
  return requestProtocol === "https:" || (publicUrl ?? "").toLowerCase().startsWith("https://");
}
