import { apiHandler } from "@/lib/server/http/api-handler";
import { previewTrustIdentityDeletion } from "@/lib/server/trust/preview-trust-identity-deletion";

export const dynamic = "force-dynamic";

// Read-only: which signatures stop verifying if this identity is deleted (the confirmation dialog shows it).
export const GET = apiHandler<{ name: string }>(async ({ actor, params }) => previewTrustIdentityDeletion({ actor, name: params.name }), {
  roles: ["admin"],
  what: "managing trust identities",
});
