import pg from "pg";
import { describe, expect, it } from "vitest";
import { useBundleStages } from "../../../scripts/test-harness/bundle-stages";
import { approvedLeavingAccessories, userActor } from "../../../scripts/test-harness/promote";
import { db } from "../../db";
import type { Digest } from "../../oci/digest";
import { referrersFallbackTag } from "../../oci/reference";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { revokeApproval } from "./revoke-approval";
import { pushVerificationSummary } from "./push-verification-summary";

// Found by the session-13 security review: pushVerificationSummary checked for a revocation under the `.att` lock, then
// pushed the VSA's Sigstore bundle as a referrer with no second check. A revocation between the two (its
// removeVerificationSummary found no bundle referrer recorded yet) left a signed "gates PASSED" VSA bundle listed as a
// referrer of the image for a revoked approval, recorded nowhere, while the push answered "pushed". Now the summary is
// checked again under the referrers lock, and a referrer pushed while a revocation landed is taken back. The
// interleaving is forced with the real lock the pusher takes, held from a second Postgres session.

const REPO = "summary-race/app";
const fx = useBundleStages();

async function referrerAnnotations(digest: Digest) {
  try {
    const idx = JSON.parse((await fx.client.getManifest(REPO, referrersFallbackTag(digest))).bytes.toString("utf8")) as {
      manifests?: { annotations?: Record<string, string> }[];
    };
    return (idx.manifests ?? []).map((m) => m.annotations ?? {});
  } catch {
    return [];
  }
}

async function waitForBlockedAdvisoryLock(session: pg.Client) {
  for (let i = 0; i < 600; i++) {
    const { rows } = await session.query<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`);
    if (Number(rows[0]!.n) > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the summary push never reached the referrers lock");
}

describe("a verification summary racing a revocation", () => {
  it("a revocation between the .att append and the VSA bundle referrer leaves no referrer vouching for the revoked approval", async () => {
    const { approvalId, digest } = await approvedLeavingAccessories({ client: fx.client, repository: REPO, stage: "build", label: "vsa" });
    const image = await db.image.findUniqueOrThrow({
      where: { id: (await db.approval.findUniqueOrThrow({ where: { id: approvalId } })).imageId },
      include: { repository: true },
    });
    const lockKey = `${image.repository.registryId}/${REPO}@${digest}`;

    // Another session holds the referrers lock the VSA bundle push will wait for (as a concurrent writer would).
    const session = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await session.connect();
    await session.query("BEGIN");
    await session.query("SELECT pg_advisory_xact_lock($1::int, hashtext($2))", [ADVISORY_LOCKS.referrers, lockKey]);

    const pushing = pushVerificationSummary({ approvalId });
    await waitForBlockedAdvisoryLock(session);
    // The `.att` layer is in by now; the approval is revoked while the bundle referrer is on its way.
    const rec = await revokeApproval({ approvalId, actor: await userActor("admin@example.com"), reason: "regression found" });
    expect(rec.state).toBe("removed");
    await session.query("COMMIT");
    await session.end();
    const result = await pushing;

    const summary = await db.verificationSummary.findUniqueOrThrow({ where: { approvalId } });
    const vsaReferrers = (await referrerAnnotations(digest)).filter((a) => a["dev.imprimatur/approval-id"] === approvalId);
    // What a verifier pulling the image's referrers sees for the revoked approval, and what Imprimatur believes.
    expect({ result: result.status, summary: summary.status, vsaReferrersForRevokedApproval: vsaReferrers }).toEqual({
      result: "skipped",
      summary: "removed",
      vsaReferrersForRevokedApproval: [],
    });
  });
});
