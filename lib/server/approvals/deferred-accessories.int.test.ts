import { describe, expect, it } from "vitest";
import { startRegistry } from "../../../scripts/lib/services.mjs";
import { RegistryClient } from "../../oci/client";
import { useBundleStages } from "../../../scripts/test-harness/bundle-stages";
import { pushedAndRequested, userActor } from "../../../scripts/test-harness/promote";
import { db } from "../../db";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import { reviewRequest } from "../promotions/review-request";
import { completePendingBundles } from "./finish-stage-signature";
import { completePendingSummaries } from "./push-verification-summary";

// The review route answers once the stage signature is in the registry, read back and verified; the Sigstore bundle and
// the verification summary follow the answer (Next's after()). These tests hand reviewRequest a `later` that keeps the
// task instead of running it, so what the answer promises is checked before the accessories exist.

const REPO = "deferred/app";
const fx = useBundleStages();

const requested = (label: string) => pushedAndRequested({ client: fx.client, repository: REPO, stage: "build", label });

async function sigLayers(digest: Digest) {
  const m = parseManifest((await fx.client.getManifest(REPO, cosignTag(digest, "sig"))).bytes);
  if (m.kind !== "manifest") throw new Error("expected a manifest");
  return m.manifest.layers.map((l) => l.digest);
}

async function attExists(digest: Digest) {
  try {
    await fx.client.getManifest(REPO, cosignTag(digest, "att"));
    return true;
  } catch {
    return false;
  }
}

describe("the approval's accessories after the answer", () => {
  it("answers signed with the layer in the registry and verified before the bundle and summary exist; the deferred task then pushes both", async () => {
    const { digest, requestId } = await requested("deferred-1");
    const tasks: (() => Promise<void>)[] = [];
    const outcome = await reviewRequest({
      actor: await userActor("alice@example.com"),
      requestId,
      decision: "approve",
      comment: "ok",
      later: (t) => void tasks.push(t),
    });
    expect(outcome.status).toBe("signed");
    const approval = await db.approval.findUniqueOrThrow({ where: { id: outcome.approvalId! } });
    expect(approval.status).toBe("signed");
    expect(await sigLayers(digest)).toContain(approval.layerDigest);
    // Verified by the server before it answered, as the image page and admission read it.
    const sig = await db.signature.findFirstOrThrow({ where: { imageId: approval.imageId, layerDigest: approval.layerDigest } });
    expect(sig.verdict).toBe("verified");
    // Not yet: the accessories wait for the task.
    expect(tasks).toHaveLength(1);
    expect(await db.verificationSummary.count({ where: { approvalId: approval.id } })).toBe(0);
    expect(await db.stageBundle.count({ where: { approvalId: approval.id } })).toBe(0);
    expect(await attExists(digest)).toBe(false);

    await tasks[0]!();
    expect((await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: approval.id } })).status).toBe("pushed");
    expect(await db.stageBundle.count({ where: { approvalId: approval.id } })).toBe(1);
    expect(await attExists(digest)).toBe(true);
    expect(await db.auditEvent.count({ where: { action: "verification-summary.push", targetDigest: digest } })).toBe(1);
    expect(await db.auditEvent.count({ where: { action: "bundle.push", targetDigest: digest } })).toBe(1);
  });

  it("a replica that stopped before running the task loses nothing: the scheduler tick pushes the bundle and summary", async () => {
    const { digest, requestId } = await requested("deferred-2");
    const outcome = await reviewRequest({
      actor: await userActor("alice@example.com"),
      requestId,
      decision: "approve",
      comment: "ok",
      later: () => {}, // dropped, as by a process that exits after answering
    });
    expect(outcome.status).toBe("signed");
    const approvalId = outcome.approvalId!;
    expect(await db.verificationSummary.count({ where: { approvalId } })).toBe(0);

    await completePendingBundles();
    await completePendingSummaries();
    expect((await db.verificationSummary.findUniqueOrThrow({ where: { approvalId } })).status).toBe("pushed");
    expect(await db.stageBundle.count({ where: { approvalId } })).toBe(1);
    expect(await attExists(digest)).toBe(true);
  });

  it("without `later` (CLI, scheduler, tests) the accessories are pushed before reviewRequest returns", async () => {
    const { requestId } = await requested("deferred-3");
    const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok" });
    expect(outcome.status).toBe("signed");
    expect((await db.verificationSummary.findUniqueOrThrow({ where: { approvalId: outcome.approvalId! } })).status).toBe("pushed");
    expect(await db.stageBundle.count({ where: { approvalId: outcome.approvalId! } })).toBe(1);
  });

  it("bundles that keep failing do not starve a newer one: pending bundles are retried fewest failed attempts first", async () => {
    const alice = await userActor("alice@example.com");
    const approve = async (label: string) =>
      (await reviewRequest({ actor: alice, requestId: (await requested(label)).requestId, decision: "approve", comment: "ok", later: () => {} })).approvalId!;
    // Two older approvals whose bundle push has failed three times each (as on a registry gone for good), then a newer one.
    const older = [await approve("attempts-1"), await approve("attempts-2")];
    await db.approval.updateMany({ where: { id: { in: older } }, data: { bundleAttempts: 3 } });
    const newer = await approve("attempts-3");
    expect(await completePendingBundles({ limit: 1 })).toEqual({ pending: 1, pushed: 1 });
    expect(await db.stageBundle.count({ where: { approvalId: newer } })).toBe(1);
    expect(await db.stageBundle.count({ where: { approvalId: { in: older } } })).toBe(0);
  });

  it("a registry gone for good counts each failed bundle push, and its bundles then yield to the others", async () => {
    const reg = await startRegistry({});
    const name = `bundles-gone-${Date.now()}`;
    const alice = await userActor("alice@example.com");
    const approve = async (requestId: string) =>
      (await reviewRequest({ actor: alice, requestId, decision: "approve", comment: "ok", later: () => {} })).approvalId!;
    try {
      await db.registry.create({ data: { name, url: reg.url } });
      const gone = new RegistryClient({ url: reg.url });
      const stuck = [];
      for (const label of ["gone-1", "gone-2"])
        stuck.push(await approve((await pushedAndRequested({ client: gone, registry: name, repository: REPO, stage: "build", label })).requestId));
      // The registry goes away for good with both bundles still to push; then a newer approval on the healthy one.
      await reg.stop();
      const healthy = await approve(
        (await pushedAndRequested({ client: fx.client, registry: "default", repository: REPO, stage: "build", label: "after-gone" })).requestId,
      );
      // Two per tick: the first takes the two oldest and counts a failure for each; the second takes the newer one first.
      expect(await completePendingBundles({ limit: 2 })).toEqual({ pending: 2, pushed: 0 });
      expect(await completePendingBundles({ limit: 2 })).toEqual({ pending: 2, pushed: 1 });
      expect(await db.stageBundle.count({ where: { approvalId: healthy } })).toBe(1);
      const attempts = await db.approval.findMany({ where: { id: { in: stuck } }, select: { bundleAttempts: true } });
      expect(attempts.map((a) => a.bundleAttempts).sort()).toEqual([1, 2]);
    } finally {
      await reg.destroy();
    }
  }, 120_000);
});
