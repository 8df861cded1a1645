"use client";

import { useEffect, useRef, useState } from "react";
import "swagger-ui-dist/swagger-ui.css";
import "./swagger-contrast.css";

// Swagger UI from swagger-ui-dist's prebuilt ES bundle, bundled with the app: nothing is fetched from a CDN, and it
// runs under the page's CSP (nonce + strict-dynamic, no eval). Not swagger-ui-react: Turbopack mis-bundles its ApiDOM
// dependency, and OpenAPI 3.1 operations never finish loading ("refract is not a function", swagger-ui#10599).
type SwaggerUIBundle = (opts: Record<string, unknown>) => unknown;

export function ApiReference({ url }: { url: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);
  // Busy until Swagger UI says the document is rendered (onComplete), so assistive technology is not told forever to wait.
  const [done, setDone] = useState(false);
  useEffect(() => {
    let cancelled = false;
    import("swagger-ui-dist/swagger-ui-es-bundle.js")
      .then((m: { default: SwaggerUIBundle }) => {
        if (cancelled || !ref.current) return;
        m.default({
          domNode: ref.current,
          url,
          docExpansion: "list",
          defaultModelsExpandDepth: 0,
          deepLinking: false,
          tryItOutEnabled: false,
          validatorUrl: null,
          onComplete: () => {
            if (!cancelled) setDone(true);
          },
        });
      })
      .catch((e: unknown) => setError(e instanceof Error ? e.message : String(e)));
    return () => {
      cancelled = true;
    };
  }, [url]);
  return (
    <div className="api-reference rounded border border-slate-200 bg-white">
      {error && (
        <p role="alert" className="p-4 text-sm text-red-700">
          The API reference could not load: {error}
        </p>
      )}
      {/* Swagger UI renders into this node itself; React keeps it empty. */}
      <div ref={ref} aria-busy={!error && !done} data-testid="api-reference" />
    </div>
  );
}
