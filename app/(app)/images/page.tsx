import { Suspense } from "react";
import { db } from "@/lib/db";
import { ImagesTable } from "@/components/images-table";

export const dynamic = "force-dynamic";

export default async function ImagesPage() {
  const [registries, stages] = await Promise.all([
    db.registry.findMany({ orderBy: { name: "asc" }, select: { name: true } }),
    db.stage.findMany({ orderBy: { position: "asc" }, select: { name: true } }),
  ]);
  return (
    <Suspense>
      <ImagesTable registries={registries.map((r) => r.name)} stages={stages.map((s) => s.name)} />
    </Suspense>
  );
}
