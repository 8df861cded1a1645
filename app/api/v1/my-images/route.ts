import { apiHandler } from "@/lib/server/http/api-handler";
import { listMyImages } from "@/lib/server/promotions/list-my-images";

export const dynamic = "force-dynamic";

/** GET /api/v1/my-images: digests I requested or built, their current stage, and what blocks the next one. */
export const GET = apiHandler(async ({ actor }) => ({ images: await listMyImages({ actor }) }));
