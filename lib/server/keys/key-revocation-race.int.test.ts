// A stage key's revocation and an approval signing with that key at the same moment (review 15, item 3). The
// revocation (revoke-stage-key.ts) locks the key row, marks it revoked from `effectiveAt` and revokes, in the same
// transaction, every approval of the key it can see. An approval whose transaction had already read the key as valid
// was neither refused nor seen: its INSERT waited on the key row (the foreign key) and committed after the revocation,
// leaving a standing approval, signed after the compromise time by the compromised key, that every stage decision
// counted. Now the approval re-reads the key under a share lock before it signs: it either sees the revocation and
// is refused, or commits first and is revoked by it with the key's other approvals.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type RegistryHandle } from "../../../scripts/lib/services.mjs";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { pushedAndRequested, requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { stopBoss } from "../jobs/boss";
import { completePendingSignatures } from "../approvals/complete-pending-signatures";
import { syncRegistry } from "../images/sync-registry";
import { reviewRequest } from "../promotions/review-request";
import { revokeStageKey } from "./revoke-stage-key";

const REPO = "keyrace/app";
let client: RegistryClient;

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

const currentKey = (stage: string) =>
  db.signingKey.findFirstOrThrow({ where: { stage: { name: stage }, revokedAt: null, retiredAt: null }, orderBy: { createdAt: "desc" } });

describe("a stage key revoked while an approval signs with it", () => {
  it("leaves no standing approval signed by the key after its compromise time", async () => {
    const { requestId } = await pushedAndRequested({ client, repository: REPO, stage: "build", label: "race-1" });
    const key = await currentKey("build");
    const effectiveAt = new Date(Date.now() - 60_000);
    // The revocation's transaction, step by step as revokeStageKey runs it (FOR UPDATE on the key, revoked_at set),
    // held open on its own connection so the approval runs in between.
    const rev = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await rev.connect();
    try {
      await rev.query("BEGIN");
      await rev.query("SELECT 1 FROM signing_keys WHERE id = $1::uuid FOR UPDATE", [key.id]);
      await rev.query("UPDATE signing_keys SET revoked_at = $2, revocation_reason = 'leaked', retired_at = now() WHERE id = $1::uuid", [key.id, effectiveAt]);
      const review = reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} }).then(
        (o) => ({ status: o.status as string }),
        (e: { code?: string }) => ({ status: `error ${e.code}` }),
      );
      await new Promise((r) => setTimeout(r, 1500));
      // What the revocation then revokes: the key's approvals from effectiveAt on, as it sees them.
      const seen = await rev.query("SELECT count(*)::int AS n FROM approvals WHERE signing_key_id = $1::uuid AND revoked_at IS NULL", [key.id]);
      await rev.query("COMMIT");
      expect(seen.rows[0].n).toBe(0);
      const outcome = await review;
      const standing = await db.approval.findMany({
        where: { signingKeyId: key.id, revokedAt: null, createdAt: { gte: effectiveAt } },
        select: { id: true, createdAt: true },
      });
      expect({ standing, outcome }, "an approval signed by the revoked key after its compromise time stands").toEqual({
        standing: [],
        outcome: { status: "error POLICY_VIOLATION" },
      });
      // Refused whole: the request is still open, with no review recorded; approving again signs with a valid key.
      expect(
        await db.promotionRequest.findUniqueOrThrow({ where: { id: requestId }, select: { status: true, _count: { select: { reviews: true } } } }),
      ).toEqual({
        status: "open",
        _count: { reviews: 0 },
      });
    } finally {
      await rev.end();
    }
  });

  it("an approval that committed first is revoked with the key's other approvals", async () => {
    const { requestId } = await pushedAndRequested({ client, repository: REPO, stage: "test", label: "race-2" });
    const key = await currentKey("test");
    const outcome = await reviewRequest({ actor: await userActor("alice@example.com"), requestId, decision: "approve", comment: "ok", later: () => {} });
    expect(outcome.status).toBe("signed");
    await revokeStageKey({ actor: await userActor("admin@example.com"), stage: "test", effectiveAt: new Date(Date.now() - 60_000), reason: "leaked" });
    expect(await db.approval.count({ where: { signingKeyId: key.id, revokedAt: null } })).toBe(0);
  });

  it("an approval made before the compromise and pushed after it (registry down meanwhile) completes; the retry does not stop on the revoked key", async () => {
    // Signed before the compromise time, so it stays valid; the revoked key makes no summary for it (as the scheduler's
    // completePendingSummaries already leaves it), and the retry of pending signatures finishes instead of throwing.
    const reg: RegistryHandle = await startRegistry({});
    try {
      const img = buildImage({ architecture: "amd64", layers: [{ "late.txt": `late ${Date.now()}` }] });
      await pushImage(new RegistryClient({ url: reg.url }), "keyrace/late", img, ["1"]);
      await db.registry.create({ data: { name: "keyrace-outage", url: reg.url } });
      await syncRegistry({ actor: { kind: "system", label: "keyrace" }, registry: "keyrace-outage" });
      await reg.stop();
      const pending = await requestAndApprove({
        actor: await userActor("alice@example.com"),
        registry: "keyrace-outage",
        repository: "keyrace/late",
        digest: img.digest,
        stage: "prod",
        comment: "during outage",
      });
      expect(pending.status).toBe("signing");
      await new Promise((r) => setTimeout(r, 20));
      const revoked = await revokeStageKey({ actor: await userActor("admin@example.com"), stage: "prod", effectiveAt: new Date(), reason: "leaked" });
      expect(revoked.approvals.map((a) => a.approvalId)).not.toContain(pending.id);
      await reg.start();
      const retried = await completePendingSignatures({ actor: { kind: "system", label: "keyrace" } }).catch((e: unknown) => e);
      expect(retried, "the retry of pending signatures threw").toMatchObject({ completed: 1 });
      expect(await db.approval.findUniqueOrThrow({ where: { id: pending.id }, select: { status: true, revokedAt: true } })).toEqual({
        status: "signed",
        revokedAt: null,
      });
    } finally {
      await reg.destroy();
    }
  });
});
