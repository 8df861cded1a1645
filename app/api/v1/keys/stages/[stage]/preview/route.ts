import { apiHandler } from "@/lib/server/http/api-handler";
import { previewStageKeyChange } from "@/lib/server/keys/preview-stage-key-change";

export const dynamic = "force-dynamic";

// Read-only: what rotating or importing this stage's key changes (the confirmation dialog shows it).
export const GET = apiHandler<{ stage: string }>(async ({ actor, params }) => previewStageKeyChange({ actor, stage: params.stage }), {
  roles: ["admin"],
  what: "rotating stage keys",
});
