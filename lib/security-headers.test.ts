import { describe, expect, it } from "vitest";
import { contentSecurityPolicy, newNonce, servedOverHttps } from "./security-headers";

describe("page security headers", () => {
  it("allows scripts only with this response's nonce: no bare 'unsafe-inline' or eval in production", () => {
    const nonce = newNonce();
    const csp = contentSecurityPolicy(nonce);
    const script = csp.split("; ").find((d) => d.startsWith("script-src "))!;
    expect(script).toContain(`'nonce-${nonce}'`);
    expect(script).not.toContain("'unsafe-inline'");
    expect(script).not.toContain("'unsafe-eval'");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("base-uri 'self'");
    expect(contentSecurityPolicy(nonce, { dev: true })).toContain("'unsafe-eval'");
  });

  it("makes a fresh 128-bit nonce each time", () => {
    const a = newNonce();
    expect(Buffer.from(a, "base64")).toHaveLength(16);
    expect(newNonce()).not.toBe(a);
  });

  it("sends HSTS only for https", () => {
    expect(servedOverHttps("https:", undefined)).toBe(true);
    expect(servedOverHttps("http:", "https://imprimatur.example")).toBe(true);
    expect(servedOverHttps("http:", "http://127.0.0.1:3000")).toBe(false);
  });
});
