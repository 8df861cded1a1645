// Test helper: a developer requests the promotion, then a reviewer approves it (stages seeded by tests need 1 approval).
import { db } from "../../lib/db";
import type { Digest } from "../../lib/oci/digest";
import type { Actor } from "../../lib/server/actor";
import { approveStage } from "../../lib/server/approvals/approve-stage";
import { requestPromotion } from "../../lib/server/promotions/request-promotion";
import { reviewRequest } from "../../lib/server/promotions/review-request";
import { syncRegistry } from "../../lib/server/images/sync-registry";
import type { RegistryClient } from "../../lib/oci/client";
import { buildImage, pushImage } from "../lib/oci-build";

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

/** A fresh image pushed to `repository` under the tag `label`, synced, and asked for `stage` by dev@example.com. */
export async function pushedAndRequested(opts: { client: RegistryClient; repository: string; stage: string; label: string; registry?: string }) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${opts.label} ${Date.now()} ${Math.random()}` }] });
  await pushImage(opts.client, opts.repository, img, [opts.label]);
  await syncRegistry({ actor: { kind: "system", label: "test-harness" }, registry: opts.registry ?? "default" });
  const req = await requestPromotion({
    actor: await userActor("dev@example.com"),
    registry: opts.registry,
    repository: opts.repository,
    digest: img.digest as Digest,
    stage: opts.stage,
    note: opts.label,
  });
  return { digest: img.digest as Digest, requestId: req.id };
}

/** A fresh image pushed to `repository` under the tag `label`, synced, requested by dev@example.com and approved by alice. */
export async function pushedAndApproved(opts: { client: RegistryClient; repository: string; stage: string; label: string; registry?: string }) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${opts.label} ${Date.now()} ${Math.random()}` }] });
  await pushImage(opts.client, opts.repository, img, [opts.label]);
  await syncRegistry({ actor: { kind: "system", label: "test-harness" }, registry: opts.registry ?? "default" });
  const approval = await requestAndApprove({
    actor: await userActor("alice@example.com"),
    registry: opts.registry,
    repository: opts.repository,
    digest: img.digest as Digest,
    stage: opts.stage,
    comment: `approve ${opts.label}`,
  });
  return { img, digest: img.digest as Digest, approval };
}

/**
 * The same, approved by alice as the review route runs it, except that what follows the answer (the Sigstore bundle,
 * the verification summary: Next's after()) is dropped, as when the replica stops right after answering.
 */
export async function approvedLeavingAccessories(opts: { client: RegistryClient; repository: string; stage: string; label: string }) {
  const { digest, requestId } = await pushedAndRequested(opts);
  const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
  if (outcome.status !== "signed" || !outcome.approvalId) throw new Error(`expected the review to sign, got ${outcome.status}`);
  return { approvalId: outcome.approvalId, digest, requestId };
}

/**
 * The revoke-after grace period of an image's risks ends, as time would: revoke_at moves into the past on the
 * database's clock (revokeRegressedApprovals judges "due" by that clock, so a later `now` alone does not make it due).
 */
export async function graceEnds(imageId: string): Promise<void> {
  await db.$executeRaw`UPDATE stage_risks SET revoke_at = statement_timestamp() - interval '1 second' WHERE image_id = ${imageId}::uuid AND revoke_at IS NOT NULL`;
}
