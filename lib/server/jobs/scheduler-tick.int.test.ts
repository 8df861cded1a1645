import { describe, expect, it } from "vitest";
import { useBundleStages } from "../../../scripts/test-harness/bundle-stages";
import { approvedLeavingAccessories, userActor } from "../../../scripts/test-harness/promote";
import { db } from "../../db";
import { completePendingBundles } from "../approvals/finish-stage-signature";
import { schedulerTick } from "../jobs/workers";
import { revokeStageKey } from "../keys/revoke-stage-key";
import { revokeApproval } from "../approvals/revoke-approval";
import { parseManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";

// Found by the session-13 security review: a signed approval whose Sigstore bundle was left for the scheduler (its
// after() task dropped: replica stopped, or registry/TSA down) and whose key is then revoked from a time after the
// approval (so the approval stays valid) made completePendingBundles ask the revoked key for a new signature, which
// throws; schedulerTick stopped there every minute, so summaries, pending revocations (registry removal),
// re-evaluation, revoke-after, the audit fold and webhooks never ran again. Now revoked keys make no bundles, one
// failing bundle does not stop the others, and every tick step runs whatever an earlier one did.

const REPO = "tick/bundle";
const fx = useBundleStages();

const approvedWithoutBundle = (label: string) => approvedLeavingAccessories({ client: fx.client, repository: REPO, stage: "build", label });

describe("the scheduler tick with a pending bundle whose key was revoked", () => {
  it("completePendingBundles and schedulerTick keep working when one pending bundle's key was revoked after its approval", async () => {
    const early = await approvedWithoutBundle("before-compromise");
    // Compromise known from now: the approval above predates it and stays valid (it is not revoked).
    await new Promise((r) => setTimeout(r, 20));
    await revokeStageKey({ actor: await userActor("admin@example.com"), stage: "build", effectiveAt: new Date(), reason: "key leaked in CI logs" });
    const a = await db.approval.findUniqueOrThrow({ where: { id: early.approvalId } });
    expect(a.revokedAt).toBeNull();
    expect(await db.stageBundle.count({ where: { approvalId: early.approvalId } })).toBe(0);

    // A later approval with the replacement key, also waiting for its bundle.
    const later = await approvedWithoutBundle("after-rotation");

    let tickError: unknown = null;
    await schedulerTick().catch((e: unknown) => (tickError = e));
    expect(tickError, `schedulerTick threw: ${(tickError as Error | null)?.message}`).toBeNull();
    // The healthy approval's bundle is pushed regardless of the poisoned one.
    expect(await db.stageBundle.count({ where: { approvalId: later.approvalId } })).toBe(1);
    await expect(completePendingBundles()).resolves.toBeDefined();
  });

  it("a revocation left pending (bulk revocations use removeNow: false) is completed by the tick: its signature leaves the registry", async () => {
    const victim = await approvedWithoutBundle("revoked-but-still-signed");
    await revokeApproval({ approvalId: victim.approvalId, actor: await userActor("admin@example.com"), reason: "critical CVE", removeNow: false });
    await schedulerTick();
    const a = await db.approval.findUniqueOrThrow({ where: { id: victim.approvalId } });
    const m = parseManifest((await fx.client.getManifest(REPO, cosignTag(victim.digest, "sig"))).bytes);
    const layers = m.kind === "manifest" ? m.manifest.layers.map((l) => l.digest) : [];
    // What an external `cosign verify` against the stage key still finds, two ticks after the revocation.
    expect({ state: a.revocationState, layerStillInRegistry: layers.includes(a.layerDigest) }).toEqual({ state: "removed", layerStillInRegistry: false });
  });
});
