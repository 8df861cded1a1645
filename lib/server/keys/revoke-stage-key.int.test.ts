import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildImage, pushImage } from "../../../scripts/lib/oci-build";
import { seedStages, seedUsers } from "../../../scripts/seed";
import { requestAndApprove, userActor } from "../../../scripts/test-harness/promote";
import { db, disconnectDb } from "../../db";
import { type AppError } from "../../errors";
import { RegistryClient } from "../../oci/client";
import type { Digest } from "../../oci/digest";
import { parseManifest } from "../../oci/manifest";
import { cosignTag } from "../../oci/reference";
import type { Actor } from "../actor";
import { evaluateImage } from "../admission/evaluate-image";
import { getImage } from "../images/get-image";
import { syncRegistry } from "../images/sync-registry";
import { stopBoss } from "../jobs/boss";
import { revokeStageKey } from "./revoke-stage-key";

const system: Actor = { kind: "system", label: "key-revoke-test" };
let client: RegistryClient;
let host: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function sigLayers(repo: string, digest: string): Promise<string[]> {
  const m = await client.getManifest(repo, cosignTag(digest as Digest, "sig"));
  const p = parseManifest(m.bytes, m.mediaType);
  if (p.kind !== "manifest") throw new Error("not a manifest");
  return p.manifest.layers.map((l) => l.digest);
}

async function approveNew(name: string) {
  const img = buildImage({ architecture: "amd64", layers: [{ "app.txt": `${name} ${Date.now()} ${Math.random()}` }] });
  await pushImage(client, `keyrevoke/${name}`, img, ["1"]);
  await syncRegistry({ actor: system });
  const a = await requestAndApprove({
    actor: await userActor("alice@example.com"),
    repository: `keyrevoke/${name}`,
    digest: img.digest,
    stage: "test",
    comment: "ok",
  });
  const row = await db.approval.findUniqueOrThrow({ where: { id: a.id } });
  return { repo: `keyrevoke/${name}`, digest: img.digest, approvalId: a.id, createdAt: row.createdAt, layer: row.layerDigest };
}

beforeAll(async () => {
  client = new RegistryClient({ url: process.env.REGISTRY_URL! });
  host = new URL(process.env.REGISTRY_URL!).host;
  await seedUsers();
  await seedStages(["build", "test", "prod"]);
});

afterAll(async () => {
  await stopBoss();
  await disconnectDb();
});

describe("a compromised stage key", () => {
  it("dry-runs exactly the approvals after the effective time, then revokes only those, keeps earlier ones valid, replaces the key, and never moves the time later", async () => {
    const before = await approveNew("before");
    await sleep(50);
    const effectiveAt = new Date(before.createdAt.getTime() + 25);
    await sleep(50);
    const after = await approveNew("after");
    expect(after.createdAt.getTime()).toBeGreaterThan(effectiveAt.getTime());
    const oldKey = await db.signingKey.findFirstOrThrow({ where: { stage: { name: "test" }, revokedAt: null, retiredAt: null } });
    const admin = await userActor("admin@example.com");

    // Bad input and roles.
    const err = (p: Promise<unknown>) =>
      p.then(
        () => null,
        (e: unknown) => e as AppError,
      );
    expect(await err(revokeStageKey({ actor: admin, stage: "test", effectiveAt, reason: "" }))).toMatchObject({ code: "INVALID_INPUT", field: "reason" });
    expect(await err(revokeStageKey({ actor: admin, stage: "test", effectiveAt: new Date(Date.now() + 86_400_000), reason: "leaked" }))).toMatchObject({
      code: "INVALID_INPUT",
      field: "effectiveAt",
    });
    expect(await err(revokeStageKey({ actor: await userActor("alice@example.com"), stage: "test", effectiveAt, reason: "leaked" }))).toMatchObject({
      code: "FORBIDDEN",
    });
    expect(await err(revokeStageKey({ actor: admin, stage: "nope", effectiveAt, reason: "leaked" }))).toMatchObject({ code: "NOT_FOUND" });

    // Dry run: exactly the later approval and its image; nothing changes.
    const dry = await revokeStageKey({ actor: admin, stage: "test", effectiveAt, reason: "key file leaked in CI logs", dryRun: true });
    expect(dry.approvals.map((a) => a.approvalId)).toEqual([after.approvalId]);
    expect(dry.images).toEqual([{ repository: `default/${after.repo}`, digest: after.digest, approvals: 1 }]);
    expect(dry.unaffected).toBe(1);
    expect((await db.signingKey.findUniqueOrThrow({ where: { id: oldKey.id } })).revokedAt).toBeNull();
    expect(await db.approval.count({ where: { revokedAt: { not: null } } })).toBe(0);
    expect(await db.signingKey.count({ where: { stage: { name: "test" } } })).toBe(1);
    expect(await sigLayers(after.repo, after.digest)).toEqual([after.layer]);

    const r = await revokeStageKey({ actor: admin, stage: "test", effectiveAt, reason: "key file leaked in CI logs" });
    expect(r.approvals.map((a) => a.approvalId)).toEqual([after.approvalId]);
    if (r.dryRun) throw new Error("a revocation without dryRun answered as a dry run");
    expect(r.pendingInRegistry).toEqual([]);
    expect(r.replacement).not.toBeNull();
    const k = await db.signingKey.findUniqueOrThrow({ where: { id: oldKey.id } });
    expect(k.revokedAt?.toISOString()).toBe(effectiveAt.toISOString());
    expect(k.revocationReason).toBe("key file leaked in CI logs");
    const revoked = await db.approval.findUniqueOrThrow({ where: { id: after.approvalId } });
    expect(revoked).toMatchObject({ revocationSource: "key-compromise", revocationState: "removed" });
    expect((await db.approval.findUniqueOrThrow({ where: { id: before.approvalId } })).revokedAt).toBeNull();
    expect(await sigLayers(after.repo, after.digest)).toEqual([]);
    expect(await sigLayers(before.repo, before.digest)).toEqual([before.layer]);
    expect(await db.auditEvent.count({ where: { action: "key.revoke" } })).toBe(1);

    // Re-verified against the revoked key: the earlier signature passes (made before), the later one is gone.
    await syncRegistry({ actor: system });
    const ok = await evaluateImage({ image: `${host}/${before.repo}@${before.digest}`, stage: "test", refuseTags: true });
    expect(ok.allowed).toBe(true);
    const denied = await evaluateImage({ image: `${host}/${after.repo}@${after.digest}`, stage: "test", refuseTags: true });
    expect(denied.allowed).toBe(false);
    expect(denied.reasons.join(" ")).toMatch(/revoked.*compromised/);
    const page = await getImage({ actor: admin, repository: before.repo, digest: before.digest });
    expect(page.approvals[0]!.keyCompromise).toMatchObject({ madeBefore: true });
    expect(page.approvals[0]!.keyCompromise!.explanation).toMatch(/before key .* was compromised/);
    const sig = page.signatures.find((s) => s.layerDigest === before.layer)!;
    expect(sig.verdict).toBe("verified");
    expect(sig.checks.find((c) => c.check.includes("revo"))?.detail).toMatch(/after this signature's trusted time/);
    const pageAfter = await getImage({ actor: admin, repository: after.repo, digest: after.digest });
    expect(pageAfter.approvals[0]!.keyCompromise).toMatchObject({ madeBefore: false });

    // The effective time only moves earlier.
    expect(
      await err(revokeStageKey({ actor: admin, stage: "test", key: oldKey.name, effectiveAt: new Date(effectiveAt.getTime() + 1000), reason: "later" })),
    ).toMatchObject({ code: "CONFLICT", field: "effectiveAt" });
    const earlier = await revokeStageKey({
      actor: admin,
      stage: "test",
      key: oldKey.name,
      effectiveAt: new Date(before.createdAt.getTime() - 1),
      reason: "it leaked earlier than we thought",
    });
    expect(earlier.approvals.map((a) => [a.approvalId, a.alreadyRevoked])).toEqual([
      [before.approvalId, false],
      [after.approvalId, true],
    ]);
    expect(earlier.replacement).toBeNull();
    expect((await db.approval.findUniqueOrThrow({ where: { id: before.approvalId } })).revokedAt).not.toBeNull();

    // New approvals sign with the replacement key.
    const fresh = await approveNew("fresh");
    const freshRow = await db.approval.findUniqueOrThrow({ where: { id: fresh.approvalId }, include: { signingKey: true } });
    expect(freshRow.signingKey.name).toBe(r.replacement!.name);
    expect((await evaluateImage({ image: `${host}/${fresh.repo}@${fresh.digest}`, stage: "test", refuseTags: true })).allowed).toBe(true);
  });
});
