import "server-only";
import { db } from "../../db";
import { requireRole, type Actor } from "../actor";

export async function listWebhooks({ actor }: { actor: Actor }) {
  requireRole(actor, ["admin"], "managing webhooks");
  const rows = await db.webhook.findMany({
    orderBy: { name: "asc" },
    omit: { secret: true },
    include: {
      deliveries: {
        orderBy: { createdAt: "desc" },
        take: 5,
        select: { event: true, status: true, attempts: true, lastError: true, createdAt: true, deliveredAt: true },
      },
    },
  });
  return rows.map((w) => ({ ...w, createdAt: w.createdAt.toISOString() }));
}
