import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listGroups } from "@/lib/server/groups/manage-group";
import { listStages } from "@/lib/server/stages/manage-stage";
import { listWaivers } from "@/lib/server/waivers/list-waivers";
import { WaiversTable } from "@/components/promotion/waivers-table";

export const dynamic = "force-dynamic";

export default async function WaiversPage() {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  const [waivers, stages, groups] = await Promise.all([listWaivers({ actor }), listStages({ actor }), listGroups({ actor })]);
  // Mirrors revokeWaiver's rule (grantor, the stage's waiver group, or an admin) to decide which buttons to show;
  // the server enforces it either way. Grantors are matched by name: listWaivers returns no grantor id.
  const myGroups = new Set(groups.filter((g) => g.members.some((m) => m.email === actor.email)).map((g) => g.name));
  const waiverGroupOf = new Map(stages.map((s) => [s.name, s.waiverGroup]));
  const rows = waivers.map((w) => {
    const group = waiverGroupOf.get(w.stage);
    return { ...w, canRevoke: w.state === "active" && (actor.role === "admin" || w.grantedBy === actor.name || (!!group && myGroups.has(group))) };
  });
  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-2xl font-semibold">Waivers</h1>
        <p className="text-sm text-slate-500">
          A waiver lets a failing gate pass for one stage, within a scope (a digest or a whole repository), until it expires. It is granted from a request’s review page by the stage’s waiver group, never by the requester, and shown on every approval that relied on it.
        </p>
      </div>
      <WaiversTable waivers={rows} />
    </div>
  );
}
