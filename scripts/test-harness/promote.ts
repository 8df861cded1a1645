// Test helper: a developer requests the promotion, then a reviewer approves it (stages seeded by tests need 1 approval).
import { db } from "../../lib/db";
import type { Digest } from "../../lib/oci/digest";
import type { Actor } from "../../lib/server/actor";
import { approveStage } from "../../lib/server/approvals/approve-stage";
import { requestPromotion } from "../../lib/server/promotions/request-promotion";

export async function userActor(email: string): Promise<Actor & { kind: "user" }> {
  const u = await db.user.findUniqueOrThrow({ where: { email } });
  return { kind: "user", id: u.id, email: u.email, name: u.name, role: u.role, via: "session" };
}

export async function requestAndApprove(opts: {
  actor: Actor;
  registry?: string | null;
  repository: string;
  digest: Digest;
  stage: string;
  comment: string;
  requester?: string;
}) {
  await requestPromotion({
    actor: await userActor(opts.requester ?? "dev@example.com"),
    registry: opts.registry,
    repository: opts.repository,
    digest: opts.digest,
    stage: opts.stage,
    note: "test",
  });
  const r = await approveStage(opts);
  if (!r.signature || !r.id) throw new Error(`expected the approval to make a signature, got ${r.status}`);
  return { ...r, id: r.id, signature: r.signature };
}
