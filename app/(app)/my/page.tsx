import { redirect } from "next/navigation";
import { getActor } from "@/lib/auth";
import { listMyImages } from "@/lib/server/promotions/list-my-images";
import { MyImagesList } from "@/components/promotion/my-images";

export const dynamic = "force-dynamic";

export default async function MyImagesPage() {
  const actor = await getActor();
  if (!actor || actor.kind !== "user") redirect("/signin");
  const images = await listMyImages({ actor });
  return (
    <div className="space-y-4">
      <div>
        <h1 className="text-2xl font-semibold">My images</h1>
        <p className="text-sm text-slate-500">
          Each digest you requested a promotion for or built (uploaded its provenance): where it stands, and what blocks the next stage.
        </p>
      </div>
      <MyImagesList images={images} />
    </div>
  );
}
