import "server-only";
import { db } from "../../db";
import type { Actor } from "../actor";

/** The stages, in order, and one image's promotion requests (newest first), for the image page's promotion panel. */
export async function listImageRequests({ imageId }: { actor: Actor; imageId: string }) {
  const [stages, requests] = await Promise.all([
    db.stage.findMany({ orderBy: { position: "asc" }, select: { id: true, name: true, requiredApprovals: true } }),
    db.promotionRequest.findMany({
      where: { imageId },
      orderBy: { createdAt: "desc" },
      take: 200,
      select: { id: true, stageId: true, status: true, approval: { select: { status: true } }, reviews: { select: { decision: true } } },
    }),
  ]);
  return { stages, requests };
}
