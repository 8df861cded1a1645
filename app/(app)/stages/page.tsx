import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listGroups } from "@/lib/server/groups/list-groups";
import { listStages } from "@/lib/server/stages/list-stages";
import { StagesAdmin } from "@/components/promotion/stages-admin";

export const dynamic = "force-dynamic";

export default async function StagesPage() {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  const [stages, groups] = await Promise.all([listStages({ actor }), listGroups({ actor })]);
  return <StagesAdmin stages={stages} groups={groups} isAdmin={actor.role === "admin"} />;
}
