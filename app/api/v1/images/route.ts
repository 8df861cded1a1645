import { apiHandler } from "@/lib/server/http/api-handler";
import { listImages, parseListImagesQuery } from "@/lib/server/images/list-images";

export const dynamic = "force-dynamic";

export const GET = apiHandler(async ({ req, actor }) => listImages({ actor, query: parseListImagesQuery(req.nextUrl.searchParams) }));
