import { notFound, redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { isAppError } from "@/lib/errors";
import { getBulkRevocation } from "@/lib/server/revocations/get-bulk-revocation";
import { BulkRevocationView } from "@/components/revocations/bulk-revoke-panel";

export const dynamic = "force-dynamic";

export default async function BulkRevocationPage({ params }: { params: Promise<{ id: string }> }) {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  const { id } = await params;
  try {
    const r = await getBulkRevocation({ actor, id });
    return (
      <div className="space-y-4">
        <h1 className="text-2xl font-semibold">Bulk revocation</h1>
        <BulkRevocationView initial={r} />
      </div>
    );
  } catch (e) {
    if (isAppError(e) && e.code === "NOT_FOUND") notFound();
    throw e;
  }
}
