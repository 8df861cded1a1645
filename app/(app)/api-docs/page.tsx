import { ApiReference } from "@/components/api-docs/api-reference";

export const metadata = { title: "API reference · Imprimatur" };

/** The OpenAPI document of every route (GET /api/v1/openapi.json), generated from the routes' zod schemas. */
export default function ApiDocsPage() {
  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-2xl font-semibold">API reference</h1>
        <p className="mt-1 text-sm text-slate-600">
          Generated from the code: every route, its parameters and body schemas, its roles and token scopes. The document itself is at{" "}
          <a className="underline" href="/api/v1/openapi.json">
            /api/v1/openapi.json
          </a>
          . Authenticate scripts with <code>Authorization: Bearer &lt;token&gt;</code> (see Tokens).
        </p>
      </div>
      <ApiReference url="/api/v1/openapi.json" />
    </div>
  );
}
