import { apiHandler } from "@/lib/server/http/api-handler";
import { imageRefFromSegments } from "@/lib/server/http/image-ref";
import { getImage } from "@/lib/server/images/get-image";

export const dynamic = "force-dynamic";

export const GET = apiHandler<{ ref: string[] }>(async ({ req, actor, params }) => {
  const { repository, digest } = imageRefFromSegments(params.ref);
  const { rawManifest: _raw, ...image } = await getImage({ actor, registry: req.nextUrl.searchParams.get("registry"), repository, digest });
  return image;
});
