"use client";

import dynamic from "next/dynamic";
import "swagger-ui-react/swagger-ui.css";

// Swagger UI is browser-only (it reads window at import), so it is loaded on the client. It is bundled with the app:
// nothing is fetched from a CDN, and it runs under the page's CSP (nonce + strict-dynamic, no eval).
const SwaggerUI = dynamic(() => import("swagger-ui-react"), { ssr: false, loading: () => <p className="text-sm text-slate-500">Loading the API reference…</p> });

export function ApiReference({ url }: { url: string }) {
  return (
    <div className="api-reference rounded border border-slate-200 bg-white">
      <SwaggerUI url={url} docExpansion="list" defaultModelsExpandDepth={0} deepLinking={false} tryItOutEnabled={false} withCredentials />
    </div>
  );
}
