import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listWaivers } from "@/lib/server/waivers/list-waivers";
import { WaiversTable } from "@/components/promotion/waivers-table";

export const dynamic = "force-dynamic";

export default async function WaiversPage() {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  const rows = await listWaivers({ actor });
  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-2xl font-semibold">Waivers</h1>
        <p className="text-sm text-slate-500">
          A waiver lets a failing gate pass for one stage, within a scope (a digest or a whole repository), until it expires. It is granted from a request’s
          review page by the stage’s waiver group, never by the requester, and shown on every approval that relied on it.
        </p>
      </div>
      <WaiversTable waivers={rows} />
    </div>
  );
}
