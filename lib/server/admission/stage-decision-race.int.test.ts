import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { RegistryClient } from "../../oci/client";
import { sha256Digest, type Digest } from "../../oci/digest";
import { parseManifest, type Descriptor } from "../../oci/manifest";
import { MT } from "../../oci/media-types";
import { cosignTag } from "../../oci/reference";
import { appendSignatureLayers } from "../../signing/formats/sig-manifest";
import { SIGNATURE_ANNOTATION } from "../../signing/formats/simple-signing";
import type { Actor } from "../actor";
import { ADVISORY_LOCKS } from "../advisory-locks";
import { evaluateImage } from "../admission/evaluate-image";
import { revokeApproval } from "../approvals/revoke-approval";
import { refreshSignatures } from "../images/refresh-signatures";
import { syncRegistry } from "../images/sync-registry";

// Found by the session-13 security review. stage_decisions is kept by row triggers, each computing the decision and
// writing it with INSERT … ON CONFLICT DO UPDATE. Under READ COMMITTED two concurrent writers of one (image, stage) lost
// an update: a revocation's transaction updates `approvals` (its trigger stores "revoked") and then waits for the
// audit-chain lock; a signature write for the same image meanwhile (the sync's refreshSignatures storing one more
// cosign layer that anyone with push access to the repository can add) computed the decision from a snapshot where
// the approval was live, waited on the row, and when the revocation committed overwrote "revoked" with "approved".
// refresh_stage_decision now serialises the writers of one (image, stage) with an advisory lock taken before its
// snapshot (migration 20261207090000_stage_decision_serialised). Both writers are the real product functions; the
// test only holds the audit-chain lock a moment from a second Postgres session, as a concurrent audited write does.

const system: Actor = { kind: "system", label: "review-proof" };
const REPO = "decision-race/app";
let client: RegistryClient;
let host: string;

beforeAll(async () => {
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
});

afterAll(async () => {
  await disconnectDb();
});

/** Someone with push access adds a junk cosign layer to the image's `.sig` manifest (it will not verify: harmless on its own). */
async function addJunkSignatureLayer(digest: Digest) {
  const tag = cosignTag(digest, "sig");
  const current = parseManifest((await client.getManifest(REPO, tag)).bytes);
  if (current.kind !== "manifest") throw new Error("expected a manifest");
  const config = JSON.parse((await client.getBlob(REPO, current.manifest.config.digest as Digest)).toString("utf8")) as Record<string, unknown>;
  const junk = randomBytes(64);
  await client.putBlob(REPO, junk);
  const layer: Descriptor = {
    mediaType: MT.cosignSimpleSigning,
    size: junk.byteLength,
    digest: sha256Digest(junk),
    annotations: { [SIGNATURE_ANNOTATION]: "AAAA" },
  };
  const next = appendSignatureLayers({ existing: current.manifest, existingConfig: config, add: [layer] });
  await client.putBlob(REPO, next.config);
  await client.putManifest(REPO, tag, next.manifest, MT.ociManifest);
}

async function waitFor(session: pg.Client, sql: string, what: string) {
  for (let i = 0; i < 600; i++) {
    const { rows } = await session.query<{ n: string }>(sql);
    if (Number(rows[0]!.n) > 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("the stored stage decision vs concurrent writers", () => {
  it("a revoked approval is denied after a revocation and a concurrent signature refresh of the same image have both committed", async () => {
    const img = buildImage({ architecture: "amd64", layers: [{ "r.txt": `race ${Date.now()}` }] });
    await pushImage(client, REPO, img, ["1"]);
    await syncRegistry({ actor: system });
    const digest = img.digest as Digest;
    const alice = await userActor("alice@example.com");
    const approval = await requestAndApprove({ actor: alice, repository: REPO, digest, stage: "prod", comment: "ok" });
    const ref = `${host}/${REPO}@${digest}`;
    expect((await evaluateImage({ image: ref, stage: "prod", refuseTags: true })).allowed).toBe(true);
    const image = await db.image.findFirstOrThrow({ where: { digest, repository: { name: REPO } } });
    await addJunkSignatureLayer(digest);

    const session = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await session.connect();
    await session.query("BEGIN");
    await session.query("SELECT pg_advisory_xact_lock($1::int, 0)", [ADVISORY_LOCKS.auditChain]);

    // 1. The revocation: approvals row updated (trigger stores "revoked"), then waits for the audit-chain lock.
    const revoking = revokeApproval({ approvalId: approval.id, actor: await userActor("admin@example.com"), reason: "critical CVE", removeNow: false });
    await waitFor(session, `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`, "the revocation to wait for the audit lock");
    // 2. The sync's signature refresh of the same image: its trigger recomputes from a snapshot without the revocation.
    const refreshing = refreshSignatures({ client, imageId: image.id, repository: REPO, digest });
    await waitFor(
      session,
      // Two sessions waiting on a lock: the revocation (audit chain) and the refresh (the decision's row, or its lock).
      // (pg_locks, not pg_stat_activity: the latter is a snapshot taken once per transaction of this session.)
      `SELECT count(DISTINCT pid) - 1 AS n FROM pg_locks WHERE NOT granted`,
      "the refresh's decision write to wait on the revocation's row",
    );
    await session.query("COMMIT");
    await session.end();
    await revoking;
    await refreshing;

    const revoked = await db.approval.findUniqueOrThrow({ where: { id: approval.id } });
    expect(revoked.revokedAt).not.toBeNull();
    const stored = await db.$queryRaw<{ allowed: boolean; state: string }[]>`
      SELECT allowed, state FROM stage_decisions WHERE image_id = ${image.id}::uuid AND stage_id = ${revoked.stageId}::uuid`;
    // A later sync of the registry (nothing changed) does not repair it either.
    await syncRegistry({ actor: system });
    const verdict = await evaluateImage({ image: ref, stage: "prod", refuseTags: true });
    expect({ stored: stored[0], admitted: verdict.allowed, reasons: verdict.reasons }).toMatchObject({
      stored: { allowed: false, state: "revoked" },
      admitted: false,
    });
  });
});
