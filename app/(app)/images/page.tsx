import { Suspense } from "react";
import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listRegistryNames } from "@/lib/server/registries/list-registry-names";
import { listStageNames } from "@/lib/server/stages/list-stage-names";
import { ImagesTable } from "@/components/images-table";

export const dynamic = "force-dynamic";

export default async function ImagesPage() {
  const actor = await getActor();
  if (!actor) redirect("/signin");
  const [registries, stages] = await Promise.all([listRegistryNames({ actor }), listStageNames({ actor })]);
  return (
    <Suspense>
      <ImagesTable registries={registries} stages={stages.map((s) => s.name)} />
    </Suspense>
  );
}
